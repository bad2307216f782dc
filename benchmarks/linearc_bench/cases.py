"""The shapes timed: one dataclass per section, and the case lists."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """A layer Linear(input_shape[-1], out_features, bias) applied to an
    input of input_shape."""

    name: str
    input_shape: tuple[int, ...]
    out_features: int
    bias: bool = True

    @property
    def in_features(self) -> int:
        return self.input_shape[-1]

    @property
    def rows(self) -> int:
        """M of the GEMM: the input's leading dimensions flattened."""
        return math.prod(self.input_shape[:-1])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.input_shape[:-1] + (self.out_features,)

    @property
    def flops(self) -> int:
        """Of one forward call: 2 M K N."""
        return 2 * self.rows * self.in_features * self.out_features


@dataclass(frozen=True)
class ForwardCase(Case):
    # also timed with LINEARC_ISA=avx2, in a subprocess
    large: bool = False
    # bound by reading the weight from memory: report GB/s of that read
    weight_bound: bool = False


@dataclass(frozen=True)
class OverheadCase(Case):
    """Tiny shapes, timed with and without out=."""


@dataclass(frozen=True)
class BackwardCase(Case):
    """Forward + backward of one layer (3 products: 3x the forward flops)."""


FORWARD_CASES = [
    ForwardCase("founding (32,3,4)->2", (32, 3, 4), 2, bias=False),
    ForwardCase("(1,64)->64", (1, 64), 64),
    ForwardCase("(16,128)->128", (16, 128), 128),
    ForwardCase("small (64,256)->256", (64, 256), 256),
    ForwardCase("(16,1024)->1024", (16, 1024), 1024),
    ForwardCase("medium (256,1024)->1024", (256, 1024), 1024, large=True),
    ForwardCase("MLP (8,512,768)->3072", (8, 512, 768), 3072, large=True),
    ForwardCase("square (4096,4096)->4096", (4096, 4096), 4096, large=True),
    ForwardCase("GEMV (1,4096)->4096", (1, 4096), 4096, weight_bound=True),
    ForwardCase("tall-skinny (100000,64)->64", (100000, 64), 64, large=True),
]

OVERHEAD_CASES = [
    OverheadCase("founding (32,3,4)->2", (32, 3, 4), 2, bias=False),
    OverheadCase("(1,64)->64", (1, 64), 64),
    OverheadCase("(16,128)->128", (16, 128), 128),
]

BACKWARD_CASES = [
    BackwardCase("medium (256,1024)->1024", (256, 1024), 1024),
    BackwardCase("MLP (8,512,768)->3072", (8, 512, 768), 3072),
]

# The widths section: (WIDTH_ROWS, WIDTH_IN) -> n for each n here and n + 16.
WIDTH_ROWS, WIDTH_IN = 2048, 1024
WIDTH_PAIRS = (1024, 2048, 3072, 4096)

# the founding example, called 10**6 times to watch the resident memory
MEMORY_CASE = OVERHEAD_CASES[0]

# The half-precision section (--half): linearc float16 and bfloat16 against
# linearc float32 and the other half-precision matmuls.
HALF_CASES = [
    ForwardCase("(16,1024)->1024", (16, 1024), 1024),
    ForwardCase("medium (256,1024)->1024", (256, 1024), 1024),
    ForwardCase("MLP (512,1024)->4096", (512, 1024), 4096),
    ForwardCase("square (2048,2048)->2048", (2048, 2048), 2048),
    ForwardCase("GEMV (1,4096)->4096", (1, 4096), 4096, weight_bound=True),
]
