"""Every exception catspec raises on purpose, and how each renders.

A user-facing error always carries a location (``Span``), a message that says
what was expected and what was found, and, when we can guess the fix, a hint.
The CLI prints ``str(error)``; it never shows a Python traceback unless asked
(``--debug``).

    mlp.cat:3:5: error: unknown op `dens`
        dens(64) >> relu
        ^^^^
    hint: did you mean `dense`?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, ``end_col`` exclusive."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class SourceCache:
    """Keeps the text of every file loaded so errors can quote the offending line."""

    texts: dict[str, str] = field(default_factory=dict)

    def line(self, file: str, line: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            return None
        lines = text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None


SOURCES = SourceCache()


def remember_source(file: str, text: str) -> None:
    """Record a file's text so later errors about it can show an excerpt."""
    SOURCES.texts[file] = text


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or ``None`` when nothing is close.

    A candidate that differs only in case wins (``-m A`` -> ``a``, which difflib alone
    scores 0); failing a close match as written, names are compared case-folded."""
    pool = sorted(set(candidates))
    same = [c for c in pool if c.casefold() == name.casefold() and c != name]
    close = same or difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        folded: dict[str, str] = {}
        for c in pool:
            folded.setdefault(c.casefold(), c)
        hit = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
        close = [folded[hit[0]]] if hit else []
    return f"did you mean `{close[0]}`?" if close else None


class CatspecError(Exception):
    """Base class of every error catspec raises on purpose."""


class SpecError(CatspecError):
    """Bad input in a spec: located, explained, with an optional hint."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def render(self) -> str:
        """``file:line:col: error: message``, the source line, a caret, the hint."""
        where = f"{self.span}: " if self.span else ""
        out = [f"{where}error: {self.message}"]
        if self.span is not None:
            src = SOURCES.line(self.span.file, self.span.line)
            if src is not None:
                width = 1
                if self.span.end_line == self.span.line and self.span.end_col:
                    width = max(1, self.span.end_col - self.span.col)
                out.append("    " + src.rstrip())
                out.append("    " + " " * (self.span.col - 1) + "^" * width)
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


class SpecErrors(SpecError):
    """Several independent errors found in one pass over a spec."""

    def __init__(self, errors: list[SpecError]):
        super().__init__(errors[0].message, errors[0].span, errors[0].hint)
        self.errors = errors

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


class IRVerifyError(CatspecError):
    """The IR broke an invariant (a wire's type, a dangling port, a missing slot)."""


class PassError(CatspecError):
    """A rewrite pass failed or was asked for by a name that does not exist."""


class UsageError(CatspecError):
    """A command-line argument that cannot work (CLI exit code 2)."""


class InputError(CatspecError):
    """Arrays given to a compiled model do not match its input types."""


class LoweringError(CatspecError):
    """The IR cannot be lowered to the backend as asked."""
