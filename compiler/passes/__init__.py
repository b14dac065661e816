"""Rewrite passes over the graph IR, one per file, and the pass manager.

    from catspec.compiler.passes import run_passes
    optimized = run_passes(graph, "O2")            # or "canonicalize,cse,dce"

Each pass is registered under its kebab-case name (``repeat-to-scan`` lives in
``repeat_to_scan.py``); see ``docs/PASSES.md``.
"""

from . import (  # noqa: F401  (registration)
    batch_parallel,
    canonicalize,
    cse,
    dce,
    fold_constants,
    fuse_dense,
    repeat_to_scan,
)
from .layout import ParamLayout, layout_of
from .manager import (
    PASSES,
    PIPELINES,
    Pass,
    PassTiming,
    expand,
    format_timings,
    register_pass,
    run_passes,
)

__all__ = ["PASSES", "PIPELINES", "ParamLayout", "Pass", "PassTiming", "expand",
           "format_timings", "layout_of", "register_pass", "run_passes"]
