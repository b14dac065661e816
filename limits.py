"""Limits that keep hostile or huge specs from exhausting the process.

Specs are data from users; a spec with thousands of stages (`a >> b >> …`)
is legitimate and nests the AST thousands deep. Python 3.11+ runs pure-Python
recursion without growing the C stack, so the front end raises the interpreter's
recursion limit (never lowers it) instead of rewriting every tree walk as a loop.
"""

from __future__ import annotations

import sys

RECURSION_LIMIT = 50_000

# Nodes one elaborated graph may hold (regions included). The front end and -O1 took
# 4.1 s for 10,002 nodes (docs/BENCHMARKS.md), so this is minutes of work; `f ^ n` checks
# it before unrolling, from the size of its first copy.
MAX_GRAPH_NODES = 500_000

# Expression nodes one YAML spec may expand to: an alias (`*a`) repeats what its anchor
# names, and nested aliases multiply ("billion laughs").
MAX_YAML_NODES = 200_000

# Digits of an integer literal (Python refuses to convert more than 4,300).
MAX_INT_DIGITS = 100


def ensure_recursion_headroom() -> None:
    """Raise ``sys.getrecursionlimit()`` to ``RECURSION_LIMIT`` if it is lower."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
