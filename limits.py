"""Limits that keep hostile or huge specs from exhausting the process.

Specs are data from users; a spec with thousands of stages (`a >> b >> …`)
is legitimate and nests the AST thousands deep. Python 3.11+ runs pure-Python
recursion without growing the C stack, so the front end raises the interpreter's
recursion limit (never lowers it) instead of rewriting every tree walk as a loop.
"""

from __future__ import annotations

import sys

RECURSION_LIMIT = 50_000


def ensure_recursion_headroom() -> None:
    """Raise ``sys.getrecursionlimit()`` to ``RECURSION_LIMIT`` if it is lower."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
