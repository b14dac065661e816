"""The pass manager: a registry of named passes, pipelines, verification, timing, dumps.

A pass is a frozen dataclass with a kebab-case ``name`` and ``apply(graph) ->
bool`` (did it change anything); it edits the graph in place. ``run_passes``
copies the graph, runs the passes in order, verifies the IR after each one
(a broken invariant is a ``PassError`` naming the pass), and can time them and
dump the IR after any of them.

Pass lists are written ``canonicalize,cse,dce``; a pipeline name (``O0``,
``O1``, ``O2``, ``inference``) stands for its passes; ``a+b+c`` runs the set
``a, b, c`` repeatedly until none of them changes the graph (a fixed point).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ...errors import IRVerifyError, PassError
from ..ir import Graph
from .layout import layout_of
from .wiring import copy_graph

MAX_FIXPOINT_ROUNDS = 16


@dataclass(frozen=True)
class Pass:
    """Base of all passes: ``name`` (kebab-case) and ``apply(graph) -> changed``."""

    name: ClassVar[str] = ""

    def apply(self, graph: Graph) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


PASSES: dict[str, type[Pass]] = {}


_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def register_pass(cls: type[Pass] | None = None, *, replace: bool = False):
    """Class decorator: make a pass available by its ``name`` (kebab-case, like
    ``repeat-to-scan``). Taking an existing name (a built-in pass, or a pipeline's)
    needs ``@register_pass(replace=True)``: the pipelines would run the new pass."""
    def register(c: type[Pass]) -> type[Pass]:
        if not isinstance(c, type) or not issubclass(c, Pass):
            raise PassError(f"register_pass takes a Pass subclass (use it as a decorator: "
                            f"@register_pass above `class MyPass(Pass)`), got {c!r}")
        name = getattr(c, "name", None)
        if not isinstance(name, str) or not _KEBAB.match(name):
            raise PassError(f"a pass name must be kebab-case, like `repeat-to-scan`; got "
                            f"{name!r}")
        if name in PIPELINES:
            raise PassError(f"`{name}` is a pipeline; choose another pass name")
        if name in PASSES and PASSES[name] is not c and not replace:
            raise PassError(f"a pass named `{name}` is already registered; use "
                            "@register_pass(replace=True) to replace it")
        PASSES[name] = c
        return c

    return register(cls) if cls is not None else register


# Default pipelines. O1 cleans up structure; O2 adds the structural optimisations
# that change the parameter layout (stacked slots, recorded in ``table.layout``);
# ``inference`` also fuses affine chains, which only pays off when weights are fixed.
# ``batch-parallel`` is not in O2: on CPU, MLP experts and heads of width >= 64 train within
# a few percent of the unbatched graph, either side (docs/BENCHMARKS.md), and it re-lays
# out the parameters; it stays available by name.
# ``inference`` scans before it fuses: fused weights are derived slots, which would stop
# the copies of a block from being stacked (fuse-dense works inside the scanned body).
_CLEANUP = "canonicalize+cse+dce"
PIPELINES: dict[str, list[str]] = {
    "O0": [],
    "O1": [_CLEANUP, "fold-constants"],
    "O2": [_CLEANUP, "fold-constants", "repeat-to-scan", "dce"],
    "inference": [_CLEANUP, "fold-constants", "repeat-to-scan", "fuse-dense",
                  "batch-parallel", "dce"],
}


@dataclass
class PassTiming:
    """One line of ``--time-passes``."""

    name: str
    seconds: float
    changed: bool
    nodes_before: int
    nodes_after: int


def expand(passes: str | list[str]) -> list[str]:
    """Pass list (string or list) -> entries, with pipeline names expanded; unknown names fail."""
    if isinstance(passes, str) and not passes.strip():
        return []  # "" runs nothing, like []
    if not isinstance(passes, (str, list, tuple)) or \
            (not isinstance(passes, str) and not all(isinstance(p, str) for p in passes)):
        raise PassError(f"passes are a string like \"O2\" or \"canonicalize,cse\", or a list of "
                        f"pass names; got {passes!r}")
    items = passes.split(",") if isinstance(passes, str) else list(passes)
    out: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            shown = passes if isinstance(passes, str) else ",".join(passes)
            raise PassError(f"`{shown}`: a pass list is names separated by commas, like "
                            "`O1,repeat-to-scan`; one of its names is empty")
        key = item.lstrip("-")
        if key in PIPELINES:
            out.extend(PIPELINES[key])
            continue
        names = item.split("+")
        if "" in names:
            raise PassError(f"`{item}`: a fixed-point set is passes joined by `+`, like "
                            "`canonicalize+cse+dce`; one of its names is empty")
        for name in names:
            if name in PIPELINES and len(names) > 1:
                rest = "+".join(n for n in names if n != name)
                raise PassError(f"`{item}`: a pipeline (`{name}`) cannot be part of a "
                                f"fixed-point set; write `{name},{rest}` to run it first")
            if name not in PASSES:
                from ...errors import did_you_mean

                hint = did_you_mean(name, [*PASSES, *PIPELINES])
                raise PassError(f"unknown pass `{name}`; known passes: {', '.join(sorted(PASSES))}"
                                f", pipelines: {', '.join(PIPELINES)}"
                                + (f" ({hint})" if hint else ""))
        out.append(item)
    return out


def check_dump_after(name: str, entries: list[str]) -> None:
    """A dump that would never happen is a mistake worth saying (a typo, or a pass that is
    not in the pipeline), not silence."""
    from ...errors import did_you_mean

    if name not in PASSES:
        hint = did_you_mean(name, list(PASSES))
        raise PassError(f"cannot dump after `{name}`: no such pass; known passes: "
                        f"{', '.join(sorted(PASSES))}, or `all`" + (f" ({hint})" if hint else ""))
    running = [n for e in entries for n in e.split("+")]
    if name not in running:
        order = ", ".join(dict.fromkeys(running)) or "no passes"
        raise PassError(f"cannot dump after `{name}`: it is not among the passes that run "
                        f"({order})")


def _count(graph: Graph) -> int:
    return len(graph)


def run_passes(
    graph: Graph,
    passes: str | list[str],
    *,
    verify: bool = True,
    timings: list[PassTiming] | None = None,
    dump_after: str | None = None,
    dump: Callable[[str, Graph], None] | None = None,
    in_place: bool = False,
) -> Graph:
    """Run ``passes`` on (a copy of) ``graph`` and return the result.

    Args:
        graph: the input graph; left untouched unless ``in_place``.
        passes: ``"canonicalize,cse"``, a pipeline name (``"O2"``), ``"a+b"`` for a
            fixed-point set, or a list of those.
        verify: check the IR after every pass.
        timings: if given, a ``PassTiming`` per pass run is appended.
        dump_after: a pass name or ``"all"``: call ``dump(name, graph)`` after it.
        dump: receives the dumps (default: print the IR text).
    Raises:
        PassError: an unknown pass, or a pass that left the IR invalid.
    """
    entries = expand(passes)
    if dump_after == "all" and not entries:
        raise PassError("cannot dump after every pass: no passes run")
    if dump_after is not None and dump_after != "all":
        check_dump_after(dump_after, entries)
    g = graph if in_place else copy_graph(graph)
    layout_of(g.params)  # snapshot the parameter table as written, before any edit
    if dump is None:
        def dump(name: str, gr: Graph) -> None:
            print(f"// ---- IR after {name} ----\n{gr}")

    def run_one(name: str) -> bool:
        before = _count(g) if timings is not None else 0
        start = time.perf_counter()
        changed = PASSES[name]().apply(g)
        elapsed = time.perf_counter() - start
        if verify:
            try:
                g.verify()
            except IRVerifyError as err:
                raise PassError(f"the IR is invalid after pass `{name}`: {err}") from None
        if timings is not None:
            timings.append(PassTiming(name, elapsed, changed, before, _count(g)))
        if dump_after in ("all", name):
            dump(name, g)
        return changed

    for entry in entries:
        names = entry.split("+")
        if len(names) == 1:
            run_one(names[0])
            continue
        for _ in range(MAX_FIXPOINT_ROUNDS):
            changed = [run_one(n) for n in names]
            if not any(changed):
                break
    return g


def format_timings(timings: list[PassTiming]) -> str:
    """The ``--time-passes`` table."""
    lines = [f"{'pass':<18} {'ms':>9}  {'nodes':>13}  changed"]
    for t in timings:
        lines.append(f"{t.name:<18} {t.seconds * 1e3:>9.2f}  "
                     f"{t.nodes_before:>6}->{t.nodes_after:<6}  {'yes' if t.changed else 'no'}")
    total = sum(t.seconds for t in timings)
    lines.append(f"{'total':<18} {total * 1e3:>9.2f}")
    return "\n".join(lines)
