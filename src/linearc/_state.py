"""What Linear.load_state_dict returns: torch's named tuple of key lists.

``torch.nn.Module.load_state_dict`` returns
``_IncompatibleKeys(missing_keys, unexpected_keys)``, a named tuple whose
repr is ``<All keys matched successfully>`` when both lists are empty; code
written for torch reads its fields or unpacks it. The C method builds this
one, so the two print and compare alike.
"""
from __future__ import annotations

from typing import NamedTuple

__all__: list[str] = []


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]  # the layer's keys the state dict lacked
    unexpected_keys: list[str]  # its keys the layer does not have, in order

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"_IncompatibleKeys(missing_keys={self.missing_keys!r}, "
                f"unexpected_keys={self.unexpected_keys!r})")

    # str() is repr(), as for torch's: tuple has no __str__ of its own.
