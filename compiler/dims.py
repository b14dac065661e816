"""Symbolic dimension sizes: integer polynomials over named symbols, with exact floor division.

A dimension is a Python ``int`` when it is known, or a ``Dim`` when it mentions
symbols (``N``, ``4*N``, ``(N-3)//2+1``). Arithmetic mixes both freely and folds
back to ``int`` whenever the result is constant, so typing rules can be written
once: ``(n + 2*pad - k) // stride + 1`` works for known and symbolic ``n``.
Two dims are equal when their canonical polynomials are equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property



MAX_WEIGHT = 256  # atoms in one symbolic size; beyond this a spec is pathological


class SizeTooComplex(Exception):
    """A symbolic size grew past ``MAX_WEIGHT`` atoms (e.g. doubling at every layer)."""

    def __init__(self, weight: int):
        super().__init__(f"a symbolic size grew too complex ({weight} terms)")
        self.message = str(self)
        self.hint = "give the grid axes known sizes, or simplify the layer arithmetic"


@dataclass(frozen=True, order=True)
class _FloorDiv:
    """An opaque atom ``num // den`` for a num that ``den`` does not divide exactly."""

    num: Dim
    den: int

    def __str__(self) -> str:
        return self._text

    @cached_property
    def _text(self) -> str:
        # Cached: atoms are sorted by their text, and nested floor divisions would
        # otherwise rebuild the same strings at every level.
        return f"({self.num})//{self.den}"


def _atom_weight(atom) -> int:
    return 1 if isinstance(atom, str) else 1 + atom.num.weight


def _atom_key(atom) -> str:
    return atom if isinstance(atom, str) else str(atom)


@dataclass(frozen=True)
class Dim:
    """A polynomial with integer coefficients; ``terms`` maps monomials to coefficients.

    A monomial is a sorted tuple of atoms (symbol names or floor-division atoms);
    the constant term has the empty monomial. Never constant: constructors return
    an ``int`` instead (see ``_make``).
    """

    terms: tuple[tuple[tuple, int], ...]

    # -- construction -----------------------------------------------------
    @staticmethod
    def symbol(name: str) -> Dim:
        return Dim((((name,), 1),))

    @staticmethod
    def _make(poly: dict[tuple, int]) -> int | Dim:
        poly = {m: c for m, c in poly.items() if c != 0}
        if not poly:
            return 0
        if list(poly) == [()]:
            return poly[()]
        weight = sum(1 + sum(_atom_weight(a) for a in m) for m in poly)
        if weight > MAX_WEIGHT:
            raise SizeTooComplex(weight)
        ordered = sorted(poly.items(), key=lambda mc: (not mc[0], [_atom_key(a) for a in mc[0]]))
        return Dim(tuple(ordered))

    # -- inspection -----------------------------------------------------------
    @cached_property
    def weight(self) -> int:
        """Number of atoms, nested ones included (bounded by ``MAX_WEIGHT``)."""
        return sum(1 + sum(_atom_weight(a) for a in m) for m, _ in self.terms)

    @property
    def symbols(self) -> set[str]:
        out: set[str] = set()
        for mono, _ in self.terms:
            for atom in mono:
                out |= {atom} if isinstance(atom, str) else atom.num.symbols
        return out

    def evaluate(self, env: Mapping[str, int]) -> int:
        """The value of this dim with every symbol bound in ``env`` (KeyError otherwise)."""
        total = 0
        for mono, coeff in self.terms:
            value = coeff
            for atom in mono:
                value *= env[atom] if isinstance(atom, str) else atom.num.evaluate(env) // atom.den
            total += value
        return total

    # -- arithmetic -----------------------------------------------------------
    def _poly(self) -> dict[tuple, int]:
        return dict(self.terms)

    def __add__(self, other):
        a = _poly(self)
        for m, c in _poly(other).items():
            a[m] = a.get(m, 0) + c
        return Dim._make(a)

    __radd__ = __add__

    def __neg__(self):
        return Dim._make({m: -c for m, c in self.terms})

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        out: dict[tuple, int] = {}
        for m1, c1 in _poly(self).items():
            for m2, c2 in _poly(other).items():
                mono = tuple(sorted(m1 + m2, key=_atom_key))
                out[mono] = out.get(mono, 0) + c1 * c2
        return Dim._make(out)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if not isinstance(other, int) or other <= 0:
            raise TypeError("a symbolic dim can only be divided by a positive integer")
        if other == 1:
            return self
        if all(c % other == 0 for _, c in self.terms):
            return Dim._make({m: c // other for m, c in self.terms})
        # Floor division does not distribute over a remainder: keep the whole as one atom.
        return Dim._make({(_FloorDiv(self, other),): 1})

    # -- printing -----------------------------------------------------------
    def __str__(self) -> str:
        return self._text

    @cached_property
    def _text(self) -> str:
        parts = []
        for mono, coeff in self.terms:
            atoms = "*".join(_atom_key(a) for a in mono)
            if not mono:
                body = str(abs(coeff))
            elif abs(coeff) == 1:
                body = atoms
            else:
                body = f"{abs(coeff)}*{atoms}"
            sign = "-" if coeff < 0 else "+"
            parts.append((sign, body))
        text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        for sign, body in parts[1:]:
            text += f"{sign}{body}"
        return text

    __repr__ = __str__


def _poly(x) -> dict[tuple, int]:
    if isinstance(x, Dim):
        return x._poly()
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"cannot use {x!r} as a dimension")
    return {(): x} if x else {}


def is_known(size) -> bool:
    """True for a concrete integer size."""
    return isinstance(size, int)


def evaluate(size, env: Mapping[str, int]) -> int:
    """Concrete value of an ``int | Dim`` under ``env``."""
    return size if isinstance(size, int) else size.evaluate(env)


def free_symbols(sizes) -> set[str]:
    out: set[str] = set()
    for s in sizes:
        if isinstance(s, Dim):
            out |= s.symbols
    return out


def product(sizes):
    """Product of a sequence of sizes (1 for an empty one)."""
    total = 1
    for s in sizes:
        total = total * s
    return total


def bind(size, value: int, env: dict[str, int]) -> bool:
    """Match a declared size against an actual integer, extending ``env``.

    Binds a bare symbol on first sight; otherwise evaluates and compares.
    Returns False on mismatch. Compound dims whose symbols are still unbound
    are checked later by the caller (they return True here).
    """
    if isinstance(size, int):
        return size == value
    if len(size.terms) == 1 and size.terms[0][1] == 1 and len(size.terms[0][0]) == 1:
        atom = size.terms[0][0][0]
        if isinstance(atom, str):
            if atom in env:
                return env[atom] == value
            env[atom] = value
            return True
    try:
        return size.evaluate(env) == value
    except KeyError:
        return True
