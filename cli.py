"""The ``catspec`` command line: check, show, run, fmt, convert.

Every command turns bad input into a located message and an exit code; a
Python traceback only appears with ``--debug``.

Exit codes: 0 success; 1 the spec (or a file it names) is wrong; 2 the command
line is wrong; 3 data given to a model is wrong; 4 an internal error (a bug).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import CatspecError, InputError, SpecError, SpecErrors, UsageError

EXIT_SPEC, EXIT_USAGE, EXIT_INPUT, EXIT_INTERNAL = 1, 2, 3, 4

app = typer.Typer(
    name="catspec",
    help="A declarative model-spec compiler: categorical specs -> typed graph IR -> JAX.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"catspec {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version,
                           is_eager=True)
    ] = False,
):
    _state["debug"] = debug


def _fail(message: str, code: int):
    typer.echo(message, err=True)
    raise typer.Exit(code)


def guarded(fn):
    """Turn catspec errors into messages and exit codes (tracebacks only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except UsageError as err:
            _debug_trace()
            _fail(f"error: {err}", EXIT_USAGE)
        except InputError as err:
            _debug_trace()
            _fail(f"error: {err}", EXIT_INPUT)
        except BrokenPipeError:
            # `catspec show … | head`: the reader left; stop quietly, as Unix tools do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except SpecError as err:  # its text starts with the location and `error:`
            _debug_trace()
            _fail(str(err), EXIT_USAGE if _is_command_line_error(err) else EXIT_SPEC)
        except CatspecError as err:
            _debug_trace()
            _fail(f"error: {err}", EXIT_SPEC)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as err:  # a bug: say so plainly
            _debug_trace()
            oom = out_of_memory_message(err)
            if oom is not None:
                _fail(oom, EXIT_INPUT)
            _fail(f"internal error: {type(err).__name__}: {err}\n"
                  "this is a bug in catspec; run with --debug for the traceback", EXIT_INTERNAL)

    return wrapper


def _debug_trace():
    if _state["debug"]:
        traceback.print_exc()


def _is_command_line_error(err: SpecError) -> bool:
    """An error located in a `-s name=value` override, or about the `-m` model chosen: the
    command line is wrong (exit 2)."""
    from .compiler.elaborate import OVERRIDE_FILE

    errors = err.errors if isinstance(err, SpecErrors) else [err]
    return any((e.span is not None and e.span.file == OVERRIDE_FILE)
               or getattr(e, "command_line", False) for e in errors)


def out_of_memory_message(err: BaseException) -> str | None:
    """The message for running out of memory (XLA's RESOURCE_EXHAUSTED, or numpy's
    MemoryError), or ``None`` when ``err`` is something else. Sizes too large for the
    machine are the user's input, not a bug in catspec."""
    import re

    text = str(err)
    xla = {c.__name__ for c in type(err).__mro__} & {"JaxRuntimeError", "XlaRuntimeError"}
    exhausted = re.search(r"RESOURCE_EXHAUSTED|resource exhausted|out of memory", text,
                          re.IGNORECASE)
    if not isinstance(err, MemoryError) and not (xla and exhausted):
        return None
    # XLA says "Out of memory allocating N bytes" (CPU) or "… while trying to allocate N
    # bytes" (GPU); numpy says "Unable to allocate 37.3 GiB for an array …".
    found = re.search(r"allocat\w*\s+(\d+)\s*bytes", text)
    human = re.search(r"allocate\s+([\d.]+\s*[KMGTP]?i?B)\b", text)
    if found:
        n = int(found.group(1))
        what = f"out of memory: tried to allocate {n:,} bytes ({_human_bytes(n)})"
    elif human:
        what = f"out of memory: tried to allocate {human.group(1)}"
    else:
        what = "out of memory"
    return (f"error: {what}\n"
            "hint: lower the sizes (-s name=…, --dim), the batch size (--batch, or "
            "`batch_size` in the train section), or use a machine with more memory")


def _check_fits_in_memory(trees) -> None:
    """Refuse (exit 3, as for XLA's out-of-memory) arrays larger in all than this machine's
    memory, from their shapes alone."""
    import jax

    need = sum(int(a.size) * a.dtype.itemsize for t in trees if t is not None
               for a in jax.tree.leaves(t))
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: XLA reports it
        return
    if need > have:
        raise InputError(
            f"out of memory: the parameters, inputs and outputs need {need:,} bytes "
            f"({_human_bytes(need)}), more than this machine's {_human_bytes(have)}\n"
            "hint: lower the sizes (-s name=…, --dim) or the batch size (--batch)")


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def parse_sets(sets: list[str] | None) -> dict[str, str]:
    """``["width=32", "act=gelu"]`` -> ``{"width": "32", "act": "gelu"}``."""
    out = {}
    for item in sets or []:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            _fail(f"error: `-s {item}` should be `-s name=value`", EXIT_USAGE)
        out[name.strip()] = value.strip()
    return out


def parse_dims(dims: list[str] | None) -> dict[str, int]:
    out = {}
    for item in dims or []:
        name, eq, value = item.partition("=")
        value = value.strip()
        if not eq or not name.strip():
            _fail(f"error: `--dim {item}` should be `--dim N=64`", EXIT_USAGE)
        if not value.lstrip("-").isdigit() or int(value) < 1:
            _fail(f"error: `--dim {item}`: a size must be a positive integer", EXIT_USAGE)
        out[name.strip()] = int(value)
    return out


def _free_sizes(model, dims: list[str] | None, purpose: str) -> dict[str, int]:
    """Sizes for the free symbols of ``model``'s inputs: the ``--dim`` values (each must
    name a free symbol), 32 for the rest (said on stderr)."""
    values = parse_dims(dims)
    free = set().union(*(t.symbols for t in model.input_types)) if model.input_types else set()
    unknown = sorted(set(values) - free)
    if unknown:
        _fail(f"error: `--dim {unknown[0]}=…`: the model's inputs have no free size "
              f"`{unknown[0]}` (free sizes: {', '.join(sorted(free)) or 'none'})", EXIT_USAGE)
    for sym in sorted(free - set(values)):
        values[sym] = 32
        typer.echo(f"note: free size {sym} set to 32 for {purpose} (use --dim {sym}=…)",
                   err=True)
    return values


SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a model parameter: -s width=32 (repeatable)."),
]
ModelOpt = Annotated[
    Optional[str], typer.Option("--model", "-m", help="Which model of the file (default: last).")
]


def _load_graph(file: Path, model: str | None, sets: list[str] | None):
    from .api import load

    return load(file, model, **parse_sets(sets))


@app.command()
@guarded
def check(
    files: Annotated[list[Path], typer.Argument(help="Spec files (.cat or .yaml).")],
    model: ModelOpt = None,
    sets: SetOpt = None,
):
    """Parse, elaborate and type-check specs; report each model's first error, located."""
    from .api import load
    from .compiler.elaborate import bind_model_params, load_module, pick_model
    from .compiler.evaluate import Evaluator
    from .runtime.config import parse_train

    errors: list[tuple[Path, SpecError]] = []

    def record(file: Path, found: list[SpecError]) -> None:
        for e in found:  # two models calling one broken `def` report it once
            if not any(f == file and (e.span, e.message) == (o.span, o.message)
                       for f, o in errors):
                errors.append((file, e))

    for file in files:
        before = len(errors)
        try:
            module = load_module(file)
        except SpecErrors as err:
            record(file, err.errors)
            continue
        except SpecError as err:
            record(file, [err])
            continue
        names = [model] if model else [m.name for m in module.ast.models] or [None]
        for name in names:  # every model is checked, whatever the ones before it gave
            try:
                load(file, name, **parse_sets(sets))
                item = pick_model(module, name)
                if item.train:  # the train section too (its values use the parameters)
                    bound = bind_model_params(item, module.env, Evaluator(), parse_sets(sets))
                    parse_train(item, module.env.child(**bound))
            except SpecErrors as err:
                record(file, err.errors)
            except SpecError as err:
                record(file, [err])
                if _is_command_line_error(err):
                    break  # a wrong -s or -m is wrong for every model
        if len(errors) == before:
            typer.echo(f"{file}: ok ({len(names)} model{'s' if len(names) != 1 else ''})")
    if errors:
        for file, err in errors:
            text = err.render()
            named = err.span is not None or str(file) in err.message
            typer.echo(text if named else f"{file}: {text}", err=True)
        n = len(errors)
        typer.echo(f"{n} error{'s' if n != 1 else ''}", err=True)
        # a wrong `-s` override is a command-line mistake, as in every other command
        usage = any(_is_command_line_error(err) for _, err in errors)
        raise typer.Exit(EXIT_USAGE if usage else EXIT_SPEC)


@app.command()
@guarded
def show(
    file: Annotated[Path, typer.Argument(help="Spec file.")],
    model: ModelOpt = None,
    sets: SetOpt = None,
    params: Annotated[bool, typer.Option(help="Print the parameter table.")] = True,
    format: Annotated[  # noqa: A002 - the option's name
        str, typer.Option("--format", "-f", help="text, json, dot, or svg (needs graphviz).")
    ] = "text",
):
    """Print a model's IR (one node per line, typed, located) and its parameters."""
    from .compiler.printer import print_graph, print_params

    if format not in ("text", "json", "dot", "svg"):
        _fail(f"error: --format must be text, json, dot or svg, got `{format}`", EXIT_USAGE)
    graph = _load_graph(file, model, sets)
    if format != "text":
        typer.echo(_render_graph(graph, format), nl=False)
        return
    typer.echo(print_graph(graph))
    if params:
        table = graph.params
        typer.echo("")
        typer.echo("parameters:")
        typer.echo(print_params(graph))
        frozen = sum(s.size for s in table.roots() if not s.trainable)
        line = f"total: {table.trainable_count():,} trained"
        if frozen:
            line += f", {frozen:,} frozen"
        typer.echo(line)


@app.command()
@guarded
def run(
    file: Annotated[Path, typer.Argument(help="Spec file.")],
    model: ModelOpt = None,
    sets: SetOpt = None,
    inputs: Annotated[
        Optional[list[Path]],
        typer.Option("--input", "-i", help="A .npy batch per model input (default: random)."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Batch size of random inputs.", min=1)] = 4,
    dims: Annotated[
        Optional[list[str]],
        typer.Option("--dim", "-d", help="Size of a free symbol for random inputs: -d N=64."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for parameters and random inputs.", min=0,
                                      max=2**32 - 1)] = 0,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Save the output (.npy; a model with several outputs writes an "
                            ".npz archive of arr_0, arr_1, … at this path).")]
    = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option("--checkpoint", "-c",
                     help="Trained parameters: a run directory of `catspec train` or its "
                          "checkpoint.npz (inputs and output in data units)."),
    ] = None,
    passes: Annotated[
        Optional[str], typer.Option("--passes", "-p", help="Passes to compile with (e.g. O2).")
    ] = None,
):
    """Compile a model, run it on inputs (random of its type by default), summarise the output."""
    import jax
    import numpy as np

    from .backends.jax.model import Model

    _check_pass_list(passes)
    if checkpoint is not None:
        from .runtime.trained import checkpoint_path, load_run

        trained = load_run(checkpoint, file, passes=passes, **parse_sets(sets))
        m, graph = trained.model, trained.model.graph
        if model is not None and model != graph.name:
            _fail(f"error: the run in `{checkpoint}` trained model `{graph.name}`, not "
                  f"`{model}`", EXIT_USAGE)
        typer.echo(f"parameters: {checkpoint_path(checkpoint)} (after epoch {trained.epoch}; "
                   "inputs and output in data units)")
        recorded = trained.meta.get("spec")
        if recorded and Path(recorded).resolve() != file.resolve():
            typer.echo(f"note: the run was trained from `{recorded}`; its parameters fit "
                       f"`{file}` too, which is what runs here", err=True)
        apply = trained.predict
        new_params = None
    else:
        graph = _load_graph(file, model, sets)
        if passes:
            from .compiler.passes import run_passes

            graph = run_passes(graph, passes)
        m = Model(graph)
        new_params = jax.eval_shape(m.init, jax.random.key(seed))  # made once sizes are checked
        made: dict = {}

        def apply(*xs):
            return m(made["params"], *xs)
    if inputs:
        xs = _add_channel_axes([_load_array(p) for p in inputs], m.input_types)
        _check_ids(graph, xs)
        new_xs = None
    else:
        dim_values = _free_sizes(m, dims, "random inputs")
        new_xs = jax.eval_shape(lambda k: m.example_inputs(k, batch, dim_values),
                                jax.random.key(seed + 1))
    # XLA aborts the process on some allocations far beyond the machine (it reports most as
    # RESOURCE_EXHAUSTED): what is about to be made is checked against its memory first.
    shaped_xs = new_xs if new_xs is not None else xs
    outputs = (jax.eval_shape(apply, *shaped_xs) if new_params is None
               else jax.eval_shape(m, new_params, *shaped_xs))
    _check_fits_in_memory([new_params, new_xs, outputs])
    if new_params is not None:
        made["params"] = m.init(jax.random.key(seed))
    if new_xs is not None:
        xs = m.example_inputs(jax.random.key(seed + 1), batch, dim_values)
    y = apply(*xs)
    ys = y if isinstance(y, tuple) else (y,)
    typer.echo(f"model {graph.name}: {m.param_count:,} parameters")
    for i, x in enumerate(xs):
        typer.echo(f"input {i}: shape {tuple(x.shape)} {x.dtype}")
    for i, o in enumerate(ys):
        a = np.asarray(o)
        typer.echo(
            f"output {i}: shape {a.shape} {a.dtype}  mean {a.mean():.6g}  std {a.std():.6g}  "
            f"min {a.min():.6g}  max {a.max():.6g}"
        )
        if not np.all(np.isfinite(a)):
            typer.echo(f"warning: output {i} has non-finite values", err=True)
    if out is not None:
        from .runtime.atomic import atomic_write

        # Written to exactly the path given (np.save on a name would append `.npy`).
        if len(ys) == 1:
            atomic_write(out, lambda fh: np.save(fh, np.asarray(ys[0])))
        else:
            atomic_write(out, lambda fh: np.savez(fh, *[np.asarray(o) for o in ys]))
        typer.echo(f"wrote {out}")


@app.command()
@guarded
def schema(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to a file.")]
    = None,
):
    """Print the JSON Schema (draft 2020-12) of the YAML spec form, for editors."""
    from .grammar.schema import schema_text

    text = schema_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        _atomic_write(output, text)
        typer.echo(f"wrote {output}")


def _render_graph(graph, format: str) -> str:  # noqa: A002
    """``show --format json|dot|svg``; SVG runs the graphviz ``dot`` binary."""
    import shutil
    import subprocess

    from .compiler.serialize import dumps

    if format == "json":
        return dumps(graph) + "\n"
    dot_text = graph.to_dot()
    if format == "dot":
        return dot_text
    exe = shutil.which("dot")
    if exe is None:
        _fail("error: --format svg needs the graphviz `dot` program, which is not installed\n"
              "hint: install graphviz (`apt-get install graphviz`, `brew install graphviz`, "
              "`conda install graphviz`), or use --format dot and render it elsewhere",
              EXIT_SPEC)
    done = subprocess.run([exe, "-Tsvg"], input=dot_text, capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        _fail(f"error: graphviz `dot` failed: {done.stderr.strip()}", EXIT_SPEC)
    return done.stdout


@app.command()
@guarded
def train(
    file: Annotated[Path, typer.Argument(help="Spec file with a `train { … }` section.")],
    model: ModelOpt = None,
    sets: SetOpt = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override `epochs`.", min=1)] = None,
    run_dir: Annotated[
        Optional[Path], typer.Option("--run-dir", help="Run directory (default runs/<model>-<time>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --run-dir (default: the latest).")
    ] = False,
    eval_resolution: Annotated[
        Optional[int],
        typer.Option("--eval-resolution", min=2,
                     help="Also evaluate on test data generated at this resolution."),
    ] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override `seed`.", min=0)] = None,
    data: Annotated[
        Optional[Path], typer.Option("--data", help="Train on this .npz instead of `data = …`.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    passes: Annotated[
        Optional[str],
        typer.Option("--passes", "-p",
                     help="Optimize the graph before training (e.g. O2); checkpoints keep the "
                          "spec's parameter layout."),
    ] = None,
):
    """Train a model as its spec's `train` section says; print metrics and the test error."""
    from .runtime import checkpoint
    from .runtime.train import (
        check_eval_resolution,
        check_resumable,
        check_unfinished,
        finish,
        fit,
        latest_run_dir,
        new_run_dir,
        prepare,
    )

    if run_dir is not None and run_dir.exists() and not run_dir.is_dir():
        _fail(f"error: --run-dir `{run_dir}` is a file, not a directory", EXIT_USAGE)
    if run_dir is not None and not resume and (run_dir / checkpoint.CHECKPOINT).exists():
        _fail(f"error: `{run_dir}` already holds a run; add --resume to continue it or choose "
              "another --run-dir", EXIT_USAGE)
    chosen: dict = {}
    fresh = not resume and (run_dir is None or not run_dir.exists())

    def before_data(meta: dict) -> None:
        # Runs once the settings are known, before data is generated: a resume that cannot
        # continue, or a run directory that cannot be made, fails here, in seconds.
        chosen["dir"] = run_dir
        if resume:
            chosen["dir"] = run_dir if run_dir is not None else latest_run_dir(meta["model"])
            saved = check_resumable(chosen["dir"], meta)
            planned = saved.get("config", {}).get("epochs")
            target = epochs if epochs is not None else planned
            if target is not None:
                check_unfinished(chosen["dir"], target)
            return {"epochs": planned} if epochs is None and planned else None
        if run_dir is not None:
            _make_dir(run_dir, "--run-dir")
        return None

    _check_pass_list(passes)
    try:
        job = prepare(file, model, parse_sets(sets), epochs=epochs, seed=seed, data=data,
                      passes=passes, before_data=before_data)
        res = eval_resolution if eval_resolution is not None else job.cfg.eval_resolution
        if res is not None:
            try:
                check_eval_resolution(job, res)
            except (InputError, SpecError) as err:
                _fail(err.render() if isinstance(err, SpecError) else f"error: {err}",
                      EXIT_USAGE)
    except BaseException:
        if fresh and run_dir is not None:
            _remove_if_empty(run_dir)  # made by before_data; nothing ran
        raise
    name = job.meta["model"]
    if chosen["dir"] is not None:
        run_dir = chosen["dir"]
    else:
        try:
            run_dir = new_run_dir(name)
        except OSError as err:
            raise UsageError(f"cannot create a run directory under `runs/`: "
                             f"{err.strerror or err}\nhint: choose one with --run-dir") from None
    typer.echo(f"model {name}: {job.model.param_count:,} parameters")
    typer.echo(f"data: {job.data.source}: {job.data.n_train} train / {job.data.n_test} test")
    typer.echo(f"run directory: {run_dir}")
    try:
        result = fit(job, run_dir, resume=resume, log=typer.echo, progress=progress)
    except KeyboardInterrupt:
        if fresh and _remove_if_empty(run_dir):
            _fail("interrupted before the first epoch finished; nothing was saved", 130)
        _fail(f"interrupted; the last finished epoch is saved. Continue with:\n"
              f"  {_resume_command(run_dir)}", 130)
    except BaseException:
        if fresh:
            _remove_if_empty(run_dir)  # a run that failed before its first epoch leaves nothing
        raise
    summary = finish(job, result, res)
    grid = "x".join(str(s) for s in job.data.y_test.shape[1:-1]) if \
        job.model.output_types[0].field else ""
    at = f" at resolution {grid}" if grid else ""
    typer.echo(f"test relative L2{at}: {summary['test_rel_l2']:.6f}")
    if "eval_test_rel_l2" in summary:
        from .compiler.ops.registry import graph_has_trait

        if graph_has_trait(job.model.graph, "convolution"):
            typer.echo(f"note: `{name}` has grid-cell stencils (conv, restrict, prolong), which "
                       "see a smaller region on a finer grid: it is not discretisation-"
                       "invariant, so expect a larger error away from the training grid "
                       "(docs/OPERATORS.md)", err=True)
        fine = "x".join([str(res)] * (len(grid.split("x")) if grid else 1))  # 141 -> 141x141
        line = f"test relative L2 at resolution {fine}: {summary['eval_test_rel_l2']:.6f}"
        if summary.get("eval_baseline_rel_l2") is not None:
            line += (f" (interpolation baseline, {summary['eval_baseline']}: "
                     f"{summary['eval_baseline_rel_l2']:.6f})")
        elif summary.get("eval_baseline"):
            line += f" ({summary['eval_baseline']})"
        typer.echo(line)
    typer.echo(f"wrote {run_dir}/metrics.json, loss.png, predictions.png, checkpoint.npz")
    if not math.isfinite(summary["test_rel_l2"]):
        typer.echo("warning: training diverged (the test error is not finite); lower the "
                   "learning rate or check the data", err=True)


_DATA_DEFAULT_RESOLUTION = {"burgers": 128, "darcy": 29, "antiderivative": 100}


@app.command("data")
@guarded
def data_cmd(
    name: Annotated[str, typer.Argument(help="Generator: burgers, darcy or antiderivative.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .npz file.")],
    n: Annotated[int, typer.Option("--n", help="Number of samples.", min=1)] = 1000,
    resolution: Annotated[
        Optional[int],
        typer.Option(help="Grid points (per side for darcy; query points for antiderivative)."
                          " Default: burgers 128, darcy 29, antiderivative 100.",
                     min=2),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    nu: Annotated[Optional[float], typer.Option(help="Viscosity (burgers).")] = None,
    sensors: Annotated[Optional[int], typer.Option(help="Sensors (antiderivative).", min=2)]
    = None,
):
    """Generate a built-in PDE data set (no download) and save it as .npz."""
    from .errors import did_you_mean
    from .runtime.data.registry import GENERATORS, generate, save_npz

    if name not in GENERATORS:
        hint = did_you_mean(name, GENERATORS)
        _fail(f"error: unknown data generator `{name}`\n"
              + (f"hint: {hint}" if hint else f"hint: generators are {', '.join(GENERATORS)}"),
              EXIT_USAGE)
    kwargs: dict = {"n": n, "seed": seed}
    res = resolution if resolution is not None else _DATA_DEFAULT_RESOLUTION.get(name)
    if res is not None:
        kwargs["n_points" if name == "antiderivative" else "resolution"] = res
    for opt, value, owner in (("nu", nu, "burgers"), ("sensors", sensors, "antiderivative")):
        if value is not None:
            if name != owner:
                _fail(f"error: --{opt} applies to `{owner}`, not `{name}`", EXIT_USAGE)
            kwargs[opt] = value
    try:
        arrays = generate(name, **kwargs)
    except ValueError as err:
        _fail(f"error: {err}", EXIT_USAGE)
    save_npz(out, arrays)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    typer.echo(f"wrote {out}: {shapes}")


@app.command("compile")
@guarded
def compile_(
    file: Annotated[Path, typer.Argument(help="Spec file.")],
    model: ModelOpt = None,
    sets: SetOpt = None,
    passes: Annotated[
        Optional[str],
        typer.Option("--passes", "-p", help="Passes to run: a,b,c; a+b = to a fixed point."),
    ] = None,
    o0: Annotated[bool, typer.Option("-O0", help="No optimisation.")] = False,
    o1: Annotated[bool, typer.Option("-O1", help="canonicalize+cse+dce, fold-constants.")] = False,
    o2: Annotated[bool, typer.Option("-O2", help="-O1, repeat-to-scan, dce.")] = False,
    time_passes: Annotated[bool, typer.Option("--time-passes", help="Time each pass.")] = False,
    dump_after: Annotated[
        Optional[str], typer.Option("--dump-after", help="Print the IR after PASS (or `all`).")
    ] = None,
    emit: Annotated[str, typer.Option(help="What to write: ir, jaxpr or stablehlo.")] = "ir",
    dims: Annotated[
        Optional[list[str]],
        typer.Option("--dim", "-d", help="Size of a free symbol when lowering: -d N=64."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Batch size when lowering.", min=1)] = 1,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here.")] = None,
):
    """Optimise a spec's IR with passes and print it (or its jaxpr / StableHLO)."""
    from .compiler.passes import format_timings, run_passes

    if emit not in ("ir", "jaxpr", "stablehlo"):
        _fail(f"error: `--emit {emit}`: expected ir, jaxpr or stablehlo", EXIT_USAGE)
    chosen = [name for flag, name in ((o0, "O0"), (o1, "O1"), (o2, "O2")) if flag]
    if len(chosen) + (passes is not None) > 1:
        _fail("error: give one of --passes, -O0, -O1, -O2", EXIT_USAGE)
    pipeline = passes if passes is not None else (chosen[0] if chosen else "O1")
    _check_pass_list(pipeline)
    _check_dump_after(dump_after, pipeline)
    graph = _load_graph(file, model, sets)
    timings: list = [] if time_passes else None

    def dump(name, g):
        typer.echo(f"// ---- IR after {name} ----", err=True)
        typer.echo(str(g), err=True)

    graph = run_passes(graph, pipeline, timings=timings, dump_after=dump_after, dump=dump)
    if emit == "ir":
        from .compiler.printer import print_ir

        text = print_ir(graph)  # with the parameter table (and layout): parse_ir reads it back
    else:
        import jax

        from .backends.jax.model import Model

        m = Model(graph)
        dim_values = _free_sizes(m, dims, "lowering")
        # Abstract values only: lowering needs shapes, and a huge model must not be allocated.
        xs = jax.eval_shape(lambda: m.example_inputs(0, batch, dim_values))
        params = jax.eval_shape(lambda: m.init(0))
        if emit == "jaxpr":
            text = str(jax.make_jaxpr(m.apply_unjitted)(params, *xs))
        else:
            lowered = jax.jit(m.apply_unjitted).lower(params, *xs)
            text = lowered.as_text()
    if out is not None:
        _atomic_write(out, text + "\n")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)
    if timings is not None:
        typer.echo(format_timings(timings), err=True)


def _check_pass_list(passes: str | None) -> None:
    """A pass list given on the command line that names no pass is a usage error (exit 2)."""
    if not passes:
        return
    from .compiler.passes import expand
    from .errors import PassError

    try:
        expand(passes)
    except PassError as err:
        _fail(f"error: {err}", EXIT_USAGE)


def _check_dump_after(dump_after: str | None, pipeline: str) -> None:
    """`--dump-after` naming no pass, or a pass that does not run, is a usage error (exit 2),
    like an unknown name in --passes; checked before the spec is loaded."""
    if dump_after is None or dump_after == "all":
        return
    from .compiler.passes import expand
    from .compiler.passes.manager import check_dump_after
    from .errors import PassError

    try:
        check_dump_after(dump_after, expand(pipeline))
    except PassError as err:
        _fail(f"error: {err}", EXIT_USAGE)


def _make_dir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create {what} `{path}`: {err.strerror or err}") from None


def _remove_if_empty(run_dir: Path) -> bool:
    """Remove a run directory this command created if nothing was written into it."""
    try:
        run_dir.rmdir()  # fails unless empty
        return True
    except OSError:
        return False


def _resume_command(run_dir: Path) -> str:
    """This very command line, with `--resume --run-dir D` (and without a previous
    --run-dir/--resume), so the resumed run has the same data, passes and settings."""
    import shlex

    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip:
            skip = False
            continue
        if arg in ("--run-dir",):
            skip = True
            continue
        if arg == "--resume" or arg.startswith("--run-dir="):
            continue
        args.append(arg)
    return shlex.join(["catspec", *args, "--resume", "--run-dir", str(run_dir)])


def _check_ids(graph, xs) -> None:
    """Ids given to an `embedding` straight from an input must lie in 0..vocab-1: JAX
    would look the others up as NaN rows (out-of-bounds gathers fill), silently."""
    import numpy as np

    for i, (node_id, x) in enumerate(zip(graph.inputs, xs)):
        a = np.asarray(x)
        if a.size == 0 or a.dtype.kind not in "iu":
            continue
        for reader, _ in graph.users_of((node_id, 0)):
            node = graph.node(reader)
            vocab = node.attrs.get("vocab") if node.op == "nn.embedding" else None
            if vocab is not None and (a.min() < 0 or a.max() >= vocab):
                raise InputError(
                    f"input {i} holds ids from {a.min()} to {a.max()}, but `{node.name}` has a "
                    f"vocabulary of {vocab} (ids 0..{vocab - 1})\nhint: map the ids into "
                    "range, or raise the vocabulary size (-s …)")


def _add_channel_axes(xs: list, types: list) -> list:
    """A batch that leaves out a channel axis of size 1 gets one, as `train` does with data."""
    if len(xs) != len(types):
        return xs  # the model refuses the count, naming its inputs
    out = []
    for i, (a, t) in enumerate(zip(xs, types)):
        if a.ndim == t.rank and t.rank > 0 and t.shape[-1] == 1:
            typer.echo(f"note: input {i} has shape {a.shape}, without the channel axis of size "
                       f"1 of {t}; added it", err=True)
            a = a[..., None]
        out.append(a)
    return out


def _load_array(path: Path):
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"no such file `{path}`") from None
    except (ValueError, OSError) as err:
        why = ("it is not a .npy file" if "pickled" in str(err) else str(err))
        raise InputError(f"cannot read `{path}` as a .npy array: {why}") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"`{path}` is an .npz archive; give one .npy file per input "
                         "(np.save), each with its own -i")
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise InputError(f"`{path}` holds no examples (shape {arr.shape}); its first axis is "
                         "the batch")
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # no silent float64 on the device
    return arr


@app.command()
@guarded
def fmt(
    files: Annotated[list[Path], typer.Argument(help="Spec files (.cat).")],
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if a file is not canonical.")]
    = False,
    write: Annotated[bool, typer.Option("--write", "-w", help="Rewrite files in place.")] = False,
):
    """Print the canonical text form of specs (comments kept)."""
    from .grammar.formatter import format_module
    from .grammar.loader import load_ast, read_text

    changed = []
    for file in files:
        text = format_module(load_ast(file))
        if file.suffix != ".cat":
            if write or check:
                _fail(f"error: {file}: --write and --check apply to .cat files; "
                      "use `catspec convert` for YAML", EXIT_USAGE)
            typer.echo(text, nl=False)
            continue
        original = read_text(file)
        if check:
            if original != text:
                changed.append(file)
                typer.echo(f"{file}: not canonical", err=True)
        elif write:
            if original != text:
                _atomic_write(file, text)
                typer.echo(f"formatted {file}")
        else:
            typer.echo(text, nl=False)
    if changed:
        raise typer.Exit(EXIT_SPEC)


@app.command()
@guarded
def convert(
    file: Annotated[Path, typer.Argument(help="Spec file (.cat or .yaml).")],
    to: Annotated[str, typer.Option("--to", help="Target syntax: yaml or cat.")] = "yaml",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to a file.")]
    = None,
):
    """Convert a spec between the text and YAML forms."""
    from .grammar.formatter import format_module
    from .grammar.loader import load_ast
    from .grammar.yaml_form import to_yaml

    if to not in ("yaml", "cat"):
        _fail(f"error: --to must be `yaml` or `cat`, got `{to}`", EXIT_USAGE)
    module = load_ast(file)
    text = to_yaml(module) if to == "yaml" else format_module(module)
    if output is None:
        typer.echo(text, nl=False)
    else:
        _atomic_write(output, text)
        typer.echo(f"wrote {output}")


def _atomic_write(path: Path, text: str) -> None:
    from .runtime.atomic import atomic_write_text

    atomic_write_text(path, text)


def main() -> None:
    """Console-script entry point."""
    from .limits import ensure_recursion_headroom

    ensure_recursion_headroom()
    try:
        app()
    except SystemExit as exc:
        # click reports usage errors with exit code 2 already; keep codes as they are.
        sys.exit(exc.code)


if __name__ == "__main__":  # pragma: no cover
    main()
