"""Type stubs for the C extension linearc._linearc.

Arrays the layer returns are typed NDArray[np.floating[Any]]: the class is not
generic at runtime, so whether a given layer is float32, float64, float16 or
bfloat16 (its ``dtype``) is only known when it runs. (ml_dtypes types its
bfloat16 scalar as a numpy.generic, not a numpy.floating: a bfloat16 layer's
arrays are typed as floating all the same.)
"""
from collections.abc import Callable, Mapping
from typing import Any, Literal, SupportsIndex, TypedDict, TypeVar, final, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from linearc._state import _IncompatibleKeys

_FloatArray = NDArray[np.floating[Any]]

# Everything numpy.dtype() turns into float32, float64 or float16, and
# bfloat16: np.float32, np.float64, np.float16, float, "float32", "f8",
# "float16", "bfloat16", a dtype object...  (str is as narrow as typing
# allows for the names. ml_dtypes declares its bfloat16 class a
# type[np.generic], which would let every NumPy scalar type through: write
# dtype="bfloat16" in typed code.)
_FloatDTypeLike = (
    type[np.floating[Any]] | type[float] | np.dtype[np.floating[Any]] | str
)

# ``out=`` is returned as given, so its exact array type flows through.
_OutT = TypeVar("_OutT", bound=_FloatArray)

# What macs()/flops() count: the input (an ndarray, a torch tensor, which
# implements __array__, or a nested list of numbers) or its shape (a tuple
# of ints, torch.Size too). Scalars pass this type and fail at run time.
_CountInput = ArrayLike | tuple[SupportsIndex, ...]

_GemmPath = Literal["empty", "fill", "direct", "blocked"]

class _Cache(TypedDict):
    size: int  # bytes
    ways: int
    line: int
    sets: int
    sharing: int  # logical CPUs sharing it

class _Cpu(TypedDict):
    vendor: str
    family: int
    model: int
    stepping: int
    brand: str
    cache_source: Literal["cpuid", "sysfs", "assumed"]
    l1d: _Cache
    l2: _Cache
    l3: _Cache

_Origin = Literal["default", "model", "measured", "tuned", "environment"]

class _Params(TypedDict):
    # The planner's numbers for one element type (csrc/config.h).
    kc: int  # packed path: the K block
    kc_max: int  # a K up to this stays one block
    mc: int  # rows of A per packed block
    nc: int  # columns of B per packed panel
    kc_direct: int  # direct path: rows of B per sweep
    kc_stream: int  # the same for a single tile of rows
    direct_rows: int  # the direct path takes up to this many rows,
    direct_cols: int  # or any number of rows with up to this many columns
    serial_flops: int  # below this, one thread
    parallel_bytes: int  # the direct path splits B between threads from this size
    direct_block_bytes: int  # the direct path's K block of B per thread, at most

class _Origins(TypedDict):
    kc: _Origin
    kc_max: _Origin
    mc: _Origin
    nc: _Origin
    kc_direct: _Origin
    kc_stream: _Origin
    direct_rows: _Origin
    direct_cols: _Origin
    serial_flops: _Origin
    parallel_bytes: _Origin
    direct_block_bytes: _Origin

class _DtypeConfig(_Params):
    tile: tuple[int, int]  # MR, NR of the packed register tile
    direct_tile: tuple[int, int]  # the most rows and columns of a direct tile
    origin: _Origins  # where each value comes from
    model: _Params  # what the defaults and the cache model alone give
    measured: str | None  # the provenance of measured values in use

class _Planner(TypedDict):
    copy_max_bytes: int  # the direct path copies A up to this size
    row_tiles_per_thread: int  # fewer, and the team shares A's packed block

class _DtypeInfo(TypedDict):
    compute: Literal["float32", "float64"]  # the type its chains run in
    itemsize: int  # bytes per parameter

class _Dtypes(TypedDict):
    float32: _DtypeInfo
    float64: _DtypeInfo
    float16: _DtypeInfo
    bfloat16: _DtypeInfo

class _BuildConfig(TypedDict):
    # What _build_config() returns; get_config() reshapes it.
    arch: str  # "x86-64", "aarch64", ...: what this build is for
    compiler: str
    openmp: bool
    openmp_version: int
    threads: int
    max_threads: int  # set_num_threads() accepts 1..max_threads
    isa: Literal["avx512", "avx2", "neon", "generic"]
    isa_supported: str  # space separated, best first
    cpu: _Cpu
    float32: _DtypeConfig
    float64: _DtypeConfig
    planner: _Planner
    dtypes: _Dtypes

class _Plan(TypedDict):
    path: Literal["empty", "fill", "direct", "blocked"]
    threads: int
    copy_a: bool
    split_rows: bool
    shared_a: bool
    kc: int
    nc: int
    mc: int
    widen_b: bool  # direct path over a half B, widened a block at a time
    b_cols: int  # ... in chunks of this many columns
    home_rows: int  # a half result: rows of its float32 home (0: none)
    workspace_bytes: int

@final
class Linear:
    """y = x @ weight.T + bias for x of shape (*, in_features)."""

    def __new__(
        cls,
        in_features: SupportsIndex,
        out_features: SupportsIndex,
        bias: bool = True,
        *,
        dtype: _FloatDTypeLike | None = "float32",
        seed: SupportsIndex | None = None,
    ) -> Linear: ...
    @property
    def in_features(self) -> int: ...
    @property
    def out_features(self) -> int: ...
    @property
    def dtype(self) -> np.dtype[np.floating[Any]]: ...
    @property
    def num_parameters(self) -> int: ...
    # weight and bias read as views of the layer's memory and are assigned
    # by copying in anything castable under 'same_kind'.
    @property
    def weight(self) -> _FloatArray: ...
    @weight.setter
    def weight(self, value: ArrayLike, /) -> None: ...
    @property
    def bias(self) -> _FloatArray | None: ...
    @bias.setter
    def bias(self, value: ArrayLike | None, /) -> None: ...
    @property
    def weight_grad(self) -> _FloatArray | None: ...
    @property
    def bias_grad(self) -> _FloatArray | None: ...
    @overload
    def __call__(self, x: ArrayLike, /, *, out: None = None) -> _FloatArray: ...
    @overload
    def __call__(self, x: ArrayLike, /, *, out: _OutT) -> _OutT: ...
    @overload
    def forward(self, x: ArrayLike, /, *, out: None = None) -> _FloatArray: ...
    @overload
    def forward(self, x: ArrayLike, /, *, out: _OutT) -> _OutT: ...
    def backward(self, x: ArrayLike, grad_output: ArrayLike, /) -> _FloatArray: ...
    def zero_grad(self) -> None: ...
    def reset_parameters(self, seed: SupportsIndex | None = None) -> None: ...
    def parameters(self) -> list[_FloatArray]: ...
    def named_parameters(self) -> list[tuple[str, _FloatArray]]: ...
    def state_dict(self) -> dict[str, _FloatArray]: ...
    # Values may also be torch tensors (they implement __array__). As torch's:
    # strict=False loads the keys present; assign=True raises ValueError.
    def load_state_dict(
        self,
        state_dict: Mapping[str, ArrayLike],
        strict: bool = True,
        assign: bool = False,
    ) -> _IncompatibleKeys: ...
    def macs(self, x: _CountInput, /) -> int: ...
    def flops(self, x: _CountInput, /, *, backward: bool = False) -> int: ...
    def _input_shape(self, x: _CountInput, /) -> tuple[int, ...]: ...
    def __reduce__(
        self,
    ) -> tuple[
        Callable[..., Linear],
        tuple[int, int, bool, str, _FloatArray, _FloatArray | None],
    ]: ...

@overload
def linear(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    out: None = None,
) -> _FloatArray: ...
@overload
def linear(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    out: _OutT,
) -> _OutT: ...
def set_num_threads(n: SupportsIndex | None, /) -> None: ...
def get_num_threads() -> int: ...

# Private: used by linearc/__init__.py, pickling, tests and benchmarks.
def _build_config() -> _BuildConfig: ...
def _gemm_path(
    m: SupportsIndex,
    n: SupportsIndex,
    k: SupportsIndex,
    dtype: _FloatDTypeLike,
    threads: int,
    /,
) -> tuple[_GemmPath, int]: ...
def _gemm_plan(
    m: SupportsIndex,
    n: SupportsIndex,
    k: SupportsIndex,
    dtype: _FloatDTypeLike,
    threads: int,
    /,
) -> _Plan: ...
def _tune_params(float32: dict[str, int], float64: dict[str, int], /) -> None: ...
def _time_gemm(
    m: SupportsIndex,
    n: SupportsIndex,
    k: SupportsIndex,
    dtype: _FloatDTypeLike,
    threads: int,
    params: dict[str, int],
    repeats: int,
    layout: Literal["fwd", "gi", "wg"],
    /,
) -> list[float]: ...
def _check_measured_table() -> str | None: ...
def _workspace_bytes() -> int: ...
def _packed_bytes() -> int: ...
def _result_cache_bytes() -> int: ...
def _rebuild(
    in_features: int,
    out_features: int,
    bias: bool,
    dtype: str,
    weight: ArrayLike,
    bias_values: ArrayLike | None,
    /,
) -> Linear: ...
