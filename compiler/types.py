"""Wire types: tensors and fields with symbolic shapes, and their text form.

Models are typed *per example*: the backend adds the batch axis, so no type
mentions it. A ``Field`` is a function sampled on a grid: every axis but the
last is a spatial grid axis whose size is usually a symbol (the same operator
runs at any resolution); the last axis holds channels.

Text form (used by the IR printer and parser):
``f32[N,64]`` a tensor, ``f32[t:T,d:64]`` with axis names, ``f32{x:N,c:2}`` a field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .dims import Dim, free_symbols

DTYPES = ("f32", "f16", "bf16", "f64", "i32", "i64", "i8", "u8", "bool", "c64")
FLOAT_DTYPES = ("f32", "f16", "bf16", "f64")

# numpy/jax dtype names, used by the backend and by input loading.
NUMPY_DTYPE = {
    "f32": "float32", "f16": "float16", "bf16": "bfloat16", "f64": "float64",
    "i32": "int32", "i64": "int64", "i8": "int8", "u8": "uint8", "bool": "bool",
    "c64": "complex64",
}  # fmt: skip


# The largest size an axis may have: far beyond any device's memory, but small enough that
# sizes and element counts stay exact int64s (a `-s d=1e20` override is refused, not
# overflowed inside JAX).
MAX_SIZE = 2**40


def size_problem(shape) -> str | None:
    """Why a concrete shape cannot be a tensor's (a size below 1 or above ``MAX_SIZE``)."""
    for n in shape:
        if isinstance(n, int) and n < 1:
            return "sizes must be positive"
        if isinstance(n, int) and n > MAX_SIZE:
            return f"sizes above 2^40 = {MAX_SIZE:,} are refused"
    return None


@dataclass(frozen=True)
class TensorType:
    """The type of one wire: dtype, shape (ints or symbolic ``Dim``), optional axis names.

    ``field`` marks the leading axes as spatial grid axes (see the module doc).
    """

    shape: tuple[int | Dim, ...]
    dtype: str = "f32"
    axes: tuple[str, ...] | None = None
    field: bool = False

    def __post_init__(self):
        if self.axes is not None and len(self.axes) != len(self.shape):
            raise ValueError("axis names must match the rank")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def symbols(self) -> set[str]:
        return free_symbols(self.shape)

    @property
    def spatial_rank(self) -> int:
        """Number of grid axes of a field (0 for a plain tensor)."""
        return self.rank - 1 if self.field else 0

    def with_shape(self, shape, axes: tuple[str, ...] | None | bool = False) -> TensorType:
        """Same dtype and kind, new shape; axis names kept only if the rank is unchanged."""
        shape = tuple(shape)
        if axes is False:
            axes = self.axes if self.axes is not None and len(shape) == self.rank else None
        field = self.field and len(shape) == self.rank
        return replace(self, shape=shape, axes=axes, field=field)

    def with_last(self, size) -> TensorType:
        """Same type with the last axis resized (dense, conv and friends)."""
        return replace(self, shape=self.shape[:-1] + (size,))

    def same_as(self, other: TensorType) -> bool:
        """Equality up to axis names and field-ness (what wiring requires)."""
        return self.dtype == other.dtype and self.shape == other.shape

    def __str__(self) -> str:
        dims = [str(s) for s in self.shape]
        if self.axes is not None:
            dims = [f"{a}:{d}" for a, d in zip(self.axes, dims)]
        body = ",".join(dims)
        return f"{self.dtype}{{{body}}}" if self.field else f"{self.dtype}[{body}]"

    __repr__ = __str__


def bundle_str(types) -> str:
    """Text of a bundle: one type plain, several in parentheses, none as ``()``."""
    types = list(types)
    if len(types) == 1:
        return str(types[0])
    return "(" + ", ".join(str(t) for t in types) + ")"
