"""Counting and explaining a Linear layer: profile, clever_format, summary.

The counts follow thop and torch's FlopCounterMode (docs/design.md,
"Counting"): one multiply-accumulate (MAC) per weight per row, the bias never
counted, FLOPs = 2 * MACs for a forward and 6 * MACs for a training step
(forward, grad_input, weight_grad).

Every helper that counts takes the input the same way (the rule lives in
one place, the C layer's ``layer.macs`` / ``layer.flops`` /
``layer._input_shape``): an ndarray, a torch tensor or a nested list of
numbers is the input itself and its shape is used; a tuple of ints
(torch.Size is one) is a shape. Anything else is a TypeError naming both
forms. The shape is then checked as a forward call would check the input.
"""
from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from ._linearc import Linear

Shape = tuple[int, ...]
Number = Union[int, float]
# What the counting helpers take: the input (an ndarray, a torch tensor --
# which implements __array__ -- or a nested list of numbers) or its shape.
CountInput = Union[ArrayLike, tuple[int, ...]]

__all__ = ["clever_format", "profile", "summary", "LinearSummary"]


def _check_layer(func: str, layer: object) -> Linear:
    """layer itself if it is a linearc.Linear, else a TypeError that says
    what to use for a torch module."""
    if isinstance(layer, Linear):
        return layer
    kind = type(layer)
    name = (kind.__qualname__ if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}")
    hint = ""
    if kind.__module__.split(".")[0] == "torch":
        hint = ("; thop counts torch modules (thop.profile(model, inputs=(x,))), "
                "or copy the weights into a linearc.Linear with "
                "load_state_dict(module.state_dict())")
    raise TypeError(f"linearc.{func}() expects a linearc.Linear, not {name}{hint}")


def profile(layer: Linear, x: CountInput | None = None, *,
            inputs: Sequence[CountInput] | None = None,
            verbose: bool = False) -> tuple[int, int]:
    """Return ``(macs, params)`` for ``layer`` applied to an input.

    Called as ``profile(layer, x)`` or, as thop is called,
    ``profile(layer, inputs=(x,))``. ``x`` is the input (an ndarray, a torch
    tensor or a nested list of numbers: its shape is used) or its shape (a
    tuple of ints, or torch.Size); anything else is a TypeError. A tuple
    holding the input, ``profile(layer, (x,))``, is thus refused: write
    ``inputs=(x,)``.

    The MACs equal ``thop.profile(torch_layer, inputs=(x,))[0]`` for the
    same nn.Linear: ``in_features`` multiply-accumulates per output element,
    the bias never counted. Of thop's keywords, ``verbose`` prints one line
    saying how the count was made (default False here: thop's default True
    prints which hooks it registered); ``custom_ops``, ``ret_layer_info``
    and ``report_missing`` concern walking a tree of torch modules and are
    not accepted. Two differences from thop 0.1.1:

    * both numbers are Python ints (thop returns the MACs as a float, and
      the params as a float or the int 0);
    * params is always the layer's parameter count. thop 0.1.1 returns 0
      params for a bare ``nn.Linear`` (it only sums the counts of child
      modules) and the right count once the layer is wrapped in
      ``nn.Sequential``; linearc returns the right count in both cases.

    Raises TypeError when ``layer`` is not a linearc.Linear (a torch module
    included: thop counts those), and ValueError for a shape that
    ``layer(x)`` would reject.
    """
    layer = _check_layer("profile", layer)
    if inputs is not None:
        if x is not None:
            raise TypeError("profile() takes the input once: profile(layer, x) or "
                            "profile(layer, inputs=(x,)), not both")
        if not isinstance(inputs, (tuple, list)):
            raise TypeError("inputs must be a tuple holding the input, as thop "
                            f"takes it: inputs=(x,), not a {type(inputs).__name__}")
        if len(inputs) != 1:
            raise TypeError("a Linear takes one input, so inputs must hold exactly "
                            f"one: inputs=(x,), got {len(inputs)}")
        x = inputs[0]
    elif x is None:
        raise TypeError("profile() needs the input: profile(layer, x) or "
                        "profile(layer, inputs=(x,)), with x the input (an "
                        "ndarray, a torch tensor or a nested list of numbers, "
                        "whose shape is used) or its shape (a tuple of ints)")
    macs = int(layer.macs(x))
    params = int(layer.num_parameters)
    if verbose:
        shape = layer._input_shape(x)
        rows = math.prod(shape[:-1])
        print(f"{layer!r} on an input of shape {shape}: {rows} "
              f"{'row' if rows == 1 else 'rows'} * {layer.in_features} * "
              f"{layer.out_features} = {macs} MACs (bias not counted), "
              f"{params} parameters")
    return macs, params


def clever_format(nums: Number | Iterable[Number],
                  format: str = "%.2f") -> str | tuple[str, ...]:
    """Format numbers with a unit suffix, exactly like ``thop.clever_format``.

    Each number is divided by the first unit it strictly exceeds: 1e12 "T",
    1e9 "G", 1e6 "M", 1e3 "K"; anything else (up to and including 1000,
    zero, negatives) keeps its value and gets "B", which means the base
    unit, not billion: ``clever_format(768)`` is ``"768.00B"``.

    A single number, or a sequence of exactly one, gives one string; a
    sequence of several gives a tuple of strings (and an empty one ``()``).
    ``format`` is a %-style format applied to the scaled value.
    """
    if not isinstance(nums, Iterable):
        nums = [nums]
    out = []
    for num in nums:
        for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
            if num > scale:
                out.append(format % (num / scale) + unit)
                break
        else:
            out.append(format % num + "B")
    # thop's quirk, kept for drop-in compatibility: one element -> a str.
    return out[0] if len(out) == 1 else tuple(out)


@dataclass(frozen=True, slots=True)
class LinearSummary:
    """What a Linear layer does to one input shape, and what it costs.

    ``str()`` gives a plain-text walk-through; in Jupyter the object shows
    as an HTML table with a picture of the matrix product. Bytes count each
    array read or written once at the layer's itemsize (x, W, b read; y
    written); ``intensity`` is forward FLOPs per byte moved (0.0 when
    nothing is moved); ``weight_bytes`` is the memory of all parameters.
    """

    layer_repr: str
    input_shape: Shape
    output_shape: Shape
    rows: int
    in_features: int
    out_features: int
    bias: bool
    dtype: np.dtype[Any]
    params: int
    macs: int
    flops: int
    flops_training: int
    bytes_read: int
    bytes_written: int
    intensity: float
    weight_bytes: int

    # -- text ------------------------------------------------------------
    def _steps(self) -> list[tuple[str, Shape, str]]:
        """(label, shape, note) for each step of the forward, in order."""
        lead = self.input_shape[:-1]
        if len(lead) == 0:
            rows_note = "rows = 1 (no leading dimensions)"
        elif len(lead) == 1:
            rows_note = f"rows = {self.rows}"
        else:
            rows_note = f"rows = {'*'.join(map(str, lead))} = {self.rows}"
        steps = [
            ("input x", self.input_shape, ""),
            ("viewed as", (self.rows, self.in_features), rows_note),
            ("times weight.T", (self.in_features, self.out_features),
             f"weight {(self.out_features, self.in_features)}, "
             "shared by every row"),
        ]
        if self.bias:
            steps.append(("plus bias", (self.out_features,),
                          "broadcast over the rows"))
        steps += [
            ("gives", (self.rows, self.out_features), ""),
            ("output y", self.output_shape, ""),
        ]
        return steps

    def _costs(self) -> list[tuple[str, Number, str]]:
        """(label, value, explanation) for each number of the summary."""
        size = self.dtype.itemsize
        inn, out, rows = self.in_features, self.out_features, self.rows
        params_note = (f"weight {out}*{inn}" + (f" + bias {out}" if self.bias
                                                else "")
                       + f" = {self.params}")
        return [
            ("parameters", self.params, params_note),
            ("MACs", self.macs, f"{rows} {'row' if rows == 1 else 'rows'}"
                                f" * {inn} * {out} multiply-accumulates; "
                                "bias not counted"),
            ("FLOPs forward", self.flops, "2 per MAC"),
            ("FLOPs training step", self.flops_training,
             "forward + grad_input + weight_grad, 6 per MAC"),
            ("bytes read", self.bytes_read,
             f"x, W{', b' if self.bias else ''} at {size} bytes each"),
            ("bytes written", self.bytes_written, f"y at {size} bytes each"),
            ("arithmetic intensity", self.intensity,
             "forward FLOPs per byte moved"),
            ("weight memory", self.weight_bytes,
             f"{self.params} parameters * {size} bytes"),
        ]

    @staticmethod
    def _value_text(value: Number) -> str:
        if isinstance(value, float):
            return f"{value:.3g}"
        if value > 1000:  # exact, then the readable form
            return f"{value} ({clever_format(value)})"
        return str(value)

    def __str__(self) -> str:
        lines = [f"{self.layer_repr}, dtype={self.dtype.name}"]
        steps = self._steps()
        width = max(len(label) for label, _, _ in steps)
        shape_w = max(len(str(shape)) for _, shape, _ in steps)
        for label, shape, note in steps:
            line = f"  {label:<{width}}  {str(shape):<{shape_w}}"
            lines.append((line + "  " + note).rstrip() if note else
                         line.rstrip())
        costs = [(label, self._value_text(value), note)
                 for label, value, note in self._costs()]
        width = max(len(label) for label, _, _ in costs)
        value_w = max(len(value) for _, value, _ in costs)
        for label, value, note in costs:
            lines.append(f"{label:<{width}}  {value:<{value_w}}  {note}")
        return "\n".join(lines)

    # -- HTML (Jupyter) ----------------------------------------------------
    def _repr_html_(self) -> str:
        e = html.escape
        parts = ['<div class="linearc-summary">',
                 f"<p><code>{e(self.layer_repr)}</code>, "
                 f"dtype={e(self.dtype.name)}</p>",
                 _svg(self),
                 "<table>",
                 "<tr><th>step</th><th>shape</th><th>note</th></tr>"]
        for label, shape, note in self._steps():
            parts.append(f"<tr><td>{e(label)}</td><td>{e(str(shape))}</td>"
                         f"<td>{e(note)}</td></tr>")
        parts.append("<tr><th>quantity</th><th>value</th><th>note</th></tr>")
        for label, value, note in self._costs():
            parts.append(f"<tr><td>{e(label)}</td>"
                         f"<td>{e(self._value_text(value))}</td>"
                         f"<td>{e(note)}</td></tr>")
        parts += ["</table>", "</div>"]
        return "\n".join(parts)


def _px(n: int) -> float:
    """Drawn length of a dimension: grows like sqrt, clamped so a size-0 or
    size-1 side stays visible and a 10**6 side still fits."""
    return min(160.0, max(10.0, 10.0 * math.sqrt(n)))


# Text sizes of the picture, and how wide its characters may be drawn: the
# widths of DejaVu Sans, one of the widest fonts "sans-serif" resolves to
# (a digit 0.64 em, "@" 1.0 em, "+" and "=" 0.84 em), rounded up.
_FONT = 11.0
_OP_FONT = 14.0
_PAD = 8.0  # clear space on each side of an operator


def _digits_w(n: int) -> float:
    """Width of the number n drawn at _FONT."""
    return 0.66 * _FONT * len(str(n))


def _op_w(op: str) -> float:
    return (1.0 if op == "@" else 0.86) * _OP_FONT


def _svg(s: LinearSummary) -> str:
    """Inline SVG of x @ W.T [+ b] = y, every side labelled with its size.

    Left to right, as the formula reads: x (rows x in), "@", W.T (in x out),
    with a bias "+" and b (one row of out, broadcast over the rows), "=",
    y (rows x out). Each matrix has its column count above it, its row
    count on its left (the bias has one row) and its name below. Every
    operator gets _PAD of clear space on both sides, after the previous
    matrix and before the next matrix's row label, so no two texts touch.
    """
    e = html.escape
    rows, inn, out = _px(s.rows), _px(s.in_features), _px(s.out_features)
    top = 30.0  # room for the column labels
    row_label_gap = 4.0  # between a row label and its matrix

    # (name, width, height, rows label or None, cols label), in drawing order
    matrices: list[tuple[str, float, float, int | None, int]] = [
        ("x", inn, rows, s.rows, s.in_features),
        ("W.T", out, inn, s.in_features, s.out_features),
    ]
    ops = ["@"]
    if s.bias:
        matrices.append(("b", out, _px(1), None, s.out_features))
        ops.append("+")
    matrices.append(("y", out, rows, s.rows, s.out_features))
    ops.append("=")

    placed: list[tuple[str, float, float, float, int | None, int]] = []
    op_text: list[tuple[str, float]] = []  # (operator, its left edge)
    cursor = 10.0
    for i, (name, w, h, nrows, ncols) in enumerate(matrices):
        if i > 0:  # the operator before this matrix, with clear space
            op = ops[i - 1]
            op_text.append((op, cursor + _PAD))
            cursor += _PAD + _op_w(op) + _PAD
        if nrows is not None:
            cursor += _digits_w(nrows) + row_label_gap
        # (A column label is never wider than its matrix: _px(n) >= 10 px
        # per sqrt(n) outgrows the digits of n.)
        placed.append((name, cursor, w, h, nrows, ncols))
        cursor += w
    width = cursor + 10.0
    height = top + max(h for _, _, _, h, _, _ in placed) + 26.0

    formula = f"x @ W.T{' + b' if s.bias else ''} = y"
    title = (f"{formula}: x {s.rows} x {s.in_features} (rows x in_features)"
             f" @ W.T {s.in_features} x {s.out_features}"
             + (f" + b, one row of {s.out_features} added to every row"
                if s.bias else "")
             + f" = y {s.rows} x {s.out_features}; y has shape"
             f" {s.output_shape}")
    out_svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}"'
               f' height="{height:.0f}" font-family="sans-serif"'
               f' font-size="{_FONT:g}" role="img" aria-label="{e(title)}">',
               f"<title>{e(title)}</title>"]
    colors = {"x": "#9ecae1", "W.T": "#fdae6b", "y": "#a1d99b",
              "b": "#dadaeb"}
    for name, rx, rw, rh, nrows, ncols in placed:
        ry = top
        # An empty dimension is drawn dashed at the minimum size.
        dash = (' stroke-dasharray="3,2"'
                if nrows == 0 or ncols == 0 else "")
        out_svg.append(
            f'<rect x="{rx:.1f}" y="{ry:.1f}" width="{rw:.1f}"'
            f' height="{rh:.1f}" fill="{colors[name]}" stroke="#333"{dash}/>')
        # Names go under the matrix, since a clamped rectangle can be
        # narrower than its name; low enough to clear the row label of a
        # matrix of the minimum height.
        out_svg.append(f'<text x="{rx + rw / 2:.1f}" y="{ry + rh + 16:.1f}"'
                       f' text-anchor="middle" font-weight="bold">'
                       f"{e(name)}</text>")
        out_svg.append(f'<text x="{rx + rw / 2:.1f}" y="{ry - 4:.1f}"'
                       f' text-anchor="middle">{ncols}</text>')
        if nrows is not None:
            out_svg.append(
                f'<text x="{rx - row_label_gap:.1f}" y="{ry + rh / 2 + 4:.1f}"'
                f' text-anchor="end">{nrows}</text>')
    for op, op_left in op_text:
        out_svg.append(f'<text x="{op_left:.1f}" y="{top + 12:.1f}"'
                       f' font-size="{_OP_FONT:g}">{e(op)}</text>')
    out_svg.append("</svg>")
    return "\n".join(out_svg)


def summary(layer: Linear, input_shape: CountInput) -> LinearSummary:
    """Explain what ``layer`` does to an input, and what it costs.

    Returns a LinearSummary: print it for the step-by-step shapes and the
    costs, read its attributes for the numbers, or display it in Jupyter.
    ``input_shape`` is, as for every counting helper, the input itself (an
    ndarray, a torch tensor or a nested list of numbers: its shape is used)
    or its shape (a tuple of ints, or torch.Size); anything else is a
    TypeError. The shape is validated like a forward input (rank >= 1, last
    dimension equal to in_features), raising ValueError otherwise.
    """
    layer = _check_layer("summary", layer)
    shape = layer._input_shape(input_shape)  # the rule, and the checks
    macs = int(layer.macs(shape))
    inn, out = int(layer.in_features), int(layer.out_features)
    rows = math.prod(shape[:-1])
    has_bias = layer.bias is not None
    size = layer.dtype.itemsize
    params = int(layer.num_parameters)
    flops = int(layer.flops(shape))
    bytes_read = size * (rows * inn + out * inn + (out if has_bias else 0))
    bytes_written = size * rows * out
    moved = bytes_read + bytes_written
    return LinearSummary(
        layer_repr=repr(layer),
        input_shape=shape,
        output_shape=shape[:-1] + (out,),
        rows=rows,
        in_features=inn,
        out_features=out,
        bias=has_bias,
        dtype=layer.dtype,
        params=params,
        macs=macs,
        flops=flops,
        flops_training=int(layer.flops(shape, backward=True)),
        bytes_read=bytes_read,
        bytes_written=bytes_written,
        intensity=flops / moved if moved else 0.0,
        weight_bytes=params * size,
    )
