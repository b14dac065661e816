"""The training loop behind ``catspec train``: optax step, epochs, metrics, checkpoints, resume.

``prepare`` turns a spec file into a ``Job`` (the compiled model, the validated
train section, the data fitted to the model's types and normalised).
``fit`` runs it in a run directory: every epoch is one jitted ``lax.scan`` over
the shuffled batches or, for models with convolutions on the CPU, a Python loop
over one jitted step (``loop_shape``; measurements in docs/TRAINING.md),
followed by a test evaluation and an atomic checkpoint. Everything random derives from the seed by ``fold_in``
(the epoch's shuffle key is ``fold_in(data_key, epoch)``), and the checkpoint
holds the exact parameter and optimizer bits, so a resumed run continues the
uninterrupted trajectory bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..backends.jax.model import Model
from ..backends.jax.params import nest
from ..compiler.elaborate import bind_model_params, elaborate, load_module, pick_model
from ..compiler.evaluate import Evaluator
from ..compiler.ops.registry import graph_has_trait
from ..errors import InputError, SpecError
from . import checkpoint as ckpt
from .config import Record, TrainConfig, parse_train
from .datasets import (
    GRID_KIND,
    Dataset,
    Normalizer,
    fit_normalizer,
    fit_to_model,
    from_file,
    from_generator,
)
from .interpolate import interpolate, rel_l2, stride


@dataclass
class Job:
    """Everything a run needs, before any training happens."""

    model: Model
    cfg: TrainConfig
    data: Dataset
    norm: Normalizer
    spec: Path
    spec_params: dict
    meta: dict = field(default_factory=dict)
    generated: bool = False  # the data came from a generator (so it can be regenerated)


def prepare(spec: str | Path, model_name: str | None = None, overrides: dict | None = None,
            *, epochs: int | None = None, seed: int | None = None,
            data: Path | None = None, passes: str | None = None,
            before_data: Callable[[dict], None] | None = None) -> Job:
    """Elaborate the spec, read its train section, load and fit the data.

    ``epochs``, ``seed`` and ``data`` (an .npz path) override the train section.
    ``passes`` optimizes the graph first (``"O2"``: repeat-to-scan). The model then starts
    from the same initial values as the unoptimized one, and checkpoints keep the
    parameters in the layout of the spec as written, so ``load_run`` and an unoptimized
    model read them; resuming needs the same passes (the optimizer state is laid out
    like the optimized parameters). ``before_data(meta)`` runs once the run's settings are
    known and before any data is loaded or generated (``--resume`` checks them there).
    """
    spec = Path(spec)
    module = load_module(spec)
    item = pick_model(module, model_name)
    ev = Evaluator()
    params = bind_model_params(item, module.env, ev, overrides or {})
    cfg = parse_train(item, module.env.child(**params))
    if epochs is not None:
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise InputError(f"epochs is a positive int, got {epochs!r}")
        cfg.epochs = epochs
    if seed is not None:
        cfg.seed = seed
    graph = elaborate(module, item.name, overrides or {})
    graph.verify()
    graph_as_written = graph
    if passes:
        from ..compiler.passes import run_passes

        graph = run_passes(graph, passes)
    model = Model(graph)
    if len(model.output_types) != 1:
        raise SpecError(f"`catspec train` needs a model with one output; `{item.name}` has "
                        f"{len(model.output_types)}", item.span)
    if data is not None:
        source = Path(data)
    elif isinstance(cfg.data, Record):
        source = cfg.data
    elif isinstance(cfg.data, str):
        source = spec.resolve().parent / cfg.data
    else:
        raise SpecError(f"model `{item.name}` has no training data", item.span,
                        "add `train { data = \"file.npz\" }` (x_train, y_train, x_test, "
                        "y_test), a generator for operator models (`burgers(…)`, `darcy(…)`, "
                        "`antiderivative(…)`), or pass --data file.npz")
    meta = {"model": item.name, "spec": str(spec), "spec_params": params,
            "config": cfg.describe(), "data": str(source), "passes": passes or "",
            "data_id": _data_id(source), "graph_id": _graph_id(graph_as_written)}
    if before_data is not None:
        extra = before_data(meta) or {}
        if epochs is None and "epochs" in extra:  # a resume continues the run's own plan
            cfg.epochs = extra["epochs"]
            meta["config"] = cfg.describe()
    if isinstance(source, Record):
        ds = from_generator(source, cfg.spans.get("data"), cfg.seed)
    else:
        try:
            ds = from_file(source)
        except InputError as err:
            where = cfg.spans.get("data") if data is None else None
            if where is None:  # --data on the command line: the message names the file
                raise
            raise InputError(f"{err} (`data` at {where})") from None
    ds = fit_to_model(ds, model.input_types, model.output_types[0])
    norm = fit_normalizer(ds, model.input_types, model.output_types[0], cfg.normalize)
    return Job(model, cfg, ds, norm, spec, params, meta, isinstance(source, Record))


# -- optimizer, schedule, loss -------------------------------------------------------------


def make_schedule(cfg: TrainConfig, steps_per_epoch: int) -> optax.Schedule:
    lr = float(cfg.opt_args["lr"])
    a = cfg.sched_args
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "cosine":
        warm = int(a["warmup"]) * steps_per_epoch
        if warm > 0:
            return optax.warmup_cosine_decay_schedule(0.0, lr, warm, max(total, warm + 1),
                                                      end_value=lr * float(a["alpha"]))
        return optax.cosine_decay_schedule(lr, max(total, 1), alpha=float(a["alpha"]))
    if cfg.schedule in ("step", "exponential"):
        return optax.exponential_decay(lr, int(a["every"]) * steps_per_epoch, float(a["factor"]),
                                       staircase=cfg.schedule == "step")
    return optax.constant_schedule(lr)


def make_optimizer(cfg: TrainConfig, schedule: optax.Schedule, labels) -> optax.GradientTransformation:
    """The optax chain for the train section; frozen slots get zero updates (and no state)."""
    a, name = cfg.opt_args, cfg.optimizer.name
    parts = []
    if a["clip_norm"] > 0:
        parts.append(optax.clip_by_global_norm(float(a["clip_norm"])))
    if name in ("adam", "sgd") and a["weight_decay"] > 0:  # coupled L2, as torch's Adam
        parts.append(optax.add_decayed_weights(float(a["weight_decay"])))
    if name in ("adam", "adamw"):
        parts.append(optax.scale_by_adam(float(a["b1"]), float(a["b2"]), float(a["eps"])))
    if name == "adamw" and a["weight_decay"] > 0:  # decoupled, scaled by the learning rate
        parts.append(optax.add_decayed_weights(float(a["weight_decay"])))
    if name == "sgd" and a["momentum"] > 0:
        parts.append(optax.trace(decay=float(a["momentum"]), nesterov=bool(a["nesterov"])))
    parts.append(optax.scale_by_learning_rate(schedule))
    return optax.multi_transform({"train": optax.chain(*parts), "frozen": optax.set_to_zero()},
                                 labels)


def frozen_labels(model: Model) -> dict:
    """``"train"``/``"frozen"`` per root slot, in the parameter pytree's structure."""
    return nest({s.path: "train" if s.trainable else "frozen" for s in model.graph.params.roots()})


def _per_sample(pred, y):
    axes = tuple(range(1, y.ndim))
    err = jnp.sqrt(jnp.sum((pred - y) ** 2, axis=axes))
    return err / jnp.maximum(jnp.sqrt(jnp.sum(y**2, axis=axes)), jnp.float32(1e-12)), \
        jnp.mean((pred - y) ** 2, axis=axes)


# -- the run -------------------------------------------------------------------------------


def loop_shape(graph) -> str:
    """``"scan"`` (one jitted lax.scan per epoch: no per-step dispatch, and faster for FFT
    models, fno2d_darcy 1.25x) unless the model convolves on the CPU backend: ``"steps"``
    (a Python loop over one jitted step). XLA:CPU runs a convolution inside a while loop
    several times slower than at top level (bench/bench_train_loop.py: mgno2d_darcy
    15x, ufno2d_darcy 3.8x per epoch)."""
    if jax.default_backend() != "cpu":
        return "scan"
    return "steps" if graph_has_trait(graph, "convolution") else "scan"


class Trainer:
    """Jitted epoch and evaluation functions for one job."""

    def __init__(self, job: Job):
        self.job = job
        cfg, ds = job.cfg, job.data
        self.batch = min(cfg.batch_size, ds.n_train)
        self.steps = ds.n_train // self.batch  # the incomplete last batch is dropped
        self.schedule = make_schedule(cfg, self.steps)
        self.tx = make_optimizer(cfg, self.schedule, frozen_labels(job.model))
        self.shared = list(ds.shared)
        ym, ys = job.norm.y_stats
        self.y_mean, self.y_std = jnp.asarray(ym), jnp.asarray(ys)
        self.train_x = self._normalize(ds.x_train)
        self.train_y = jnp.asarray(ds.y_train)
        self.test_x = self._normalize(ds.x_test)
        self.test_y = jnp.asarray(ds.y_test)
        self.loss_name = cfg.loss
        self.loop = loop_shape(job.model.graph)
        self._perm = jax.jit(self._perm_fn)
        self._step = jax.jit(self._step_fn, donate_argnums=(0, 1))  # in place where supported
        self._epoch = jax.jit(self._epoch_fn)
        self._eval = jax.jit(self._eval_fn)

    def run_epoch(self, params, opt_state, key):
        """One epoch of updates; returns (params, opt_state, mean loss, mean rel. L2)."""
        # optax computes Adam's bias correction as `b1 ** count` (python float ** int32),
        # which strict dtype promotion rejects; our own code is promotion-clean, so only
        # the optimizer's trace runs under the standard rules.
        with jax.numpy_dtype_promotion("standard"):
            if self.loop == "scan":
                return self._epoch(params, opt_state, key, self.train_x, self.train_y)
            losses, rels = [], []
            for idx in self._perm(key):
                params, opt_state, loss, rel = self._step(
                    params, opt_state, self.train_x, self.train_y, idx)
                losses.append(loss)
                rels.append(rel)
            return params, opt_state, jnp.mean(jnp.stack(losses)), jnp.mean(jnp.stack(rels))

    def init_opt(self, params):
        with jax.numpy_dtype_promotion("standard"):
            return self.tx.init(params)

    def _normalize(self, xs: list[np.ndarray]) -> list[jax.Array]:
        return [jnp.asarray((x - m) / s) for x, (m, s) in zip(xs, self.job.norm.x_stats)]

    def predict(self, params, xs):
        out = self.job.model.apply_unjitted(params, *xs)
        return out * self.y_std + self.y_mean

    def _loss(self, params, xs, y):
        rel, mse = _per_sample(self.predict(params, xs), y)
        loss = jnp.mean(rel) if self.loss_name == "relative_l2" else jnp.mean(mse)
        return loss, jnp.mean(rel)

    def _gather(self, xs, idx):
        n = idx.shape[0]
        return [jnp.broadcast_to(x, (n, *x.shape)) if s else x[idx]
                for x, s in zip(xs, self.shared)]

    def _perm_fn(self, key):
        """This epoch's batches: a permutation of the training set cut into ``steps`` index
        vectors of ``batch`` (one device call for all of them)."""
        n = self.train_y.shape[0]
        perm = jax.random.permutation(key, n)[: self.steps * self.batch]
        return tuple(perm.reshape(self.steps, self.batch))

    def _epoch_fn(self, params, opt_state, key, xs, y):
        def step(carry, idx):
            params, opt_state, loss, rel = self._step_fn(*carry, xs, y, idx)
            return (params, opt_state), (loss, rel)

        perm = jnp.stack(self._perm_fn(key))
        (params, opt_state), (losses, rels) = jax.lax.scan(step, (params, opt_state), perm)
        return params, opt_state, jnp.mean(losses), jnp.mean(rels)

    def _step_fn(self, params, opt_state, xs, y, idx):
        (loss, rel), grads = jax.value_and_grad(self._loss, has_aux=True)(
            params, self._gather(xs, idx), y[idx])
        updates, opt_state = self.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, rel

    def _eval_fn(self, params, xs, y):
        pred = self.predict(params, xs)
        rel, mse = _per_sample(pred, y)
        return jnp.sum(rel), jnp.sum(mse)

    def evaluate(self, params, xs=None, y=None, chunk: int = 256) -> dict:
        """Test relative L2 (mean over samples of ||pred - y|| / ||y||) and the test loss."""
        xs = self.test_x if xs is None else xs
        y = self.test_y if y is None else y
        n = y.shape[0]
        rel_sum, mse_sum = 0.0, 0.0
        for start in range(0, n, chunk):
            idx = jnp.arange(start, min(n, start + chunk))
            r, m = self._eval(params, self._gather(xs, idx), y[idx])
            rel_sum, mse_sum = rel_sum + float(r), mse_sum + float(m)
        rel, mse = rel_sum / n, mse_sum / n
        return {"rel_l2": rel, "loss": rel if self.loss_name == "relative_l2" else mse}


def new_run_dir(model: str, root: Path = Path("runs")) -> Path:
    """A fresh ``runs/<model>-<time>[-k]``, created here: ``mkdir`` without ``exist_ok``
    claims it, so two runs started in the same second get different directories."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    path, i = root / f"{model}-{stamp}", 2
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, i = root / f"{model}-{stamp}-{i}", i + 1


def latest_run_dir(model: str, root: Path = Path("runs")) -> Path:
    runs = sorted(p for p in root.glob(f"{model}-*") if (p / ckpt.CHECKPOINT).exists())
    if not runs:
        raise InputError(f"no run of `{model}` to resume under `{root}/`; "
                         "give the run directory with --run-dir")
    return max(runs, key=lambda p: (p / ckpt.CHECKPOINT).stat().st_mtime)


def _data_id(source) -> str:
    """What identifies the data: the generator call, or the file's SHA-256 (so a different
    file at the same path, or the same file by another path, is recognised)."""
    if isinstance(source, Record):
        return str(source)
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(source, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return f"unreadable:{source}"  # from_file reports it properly
    return "sha256:" + digest.hexdigest()


def _graph_id(graph) -> str:
    """The elaborated model without names, comments and source positions: editing a comment
    does not change it, changing a layer does."""
    import hashlib

    from ..compiler.printer import print_graph

    lines = [line.split("  #", 1)[0].rstrip() for line in print_graph(graph).splitlines()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _comparable(meta: dict) -> dict:
    cfg = dict(meta.get("config", {}))
    cfg.pop("epochs", None)  # a resume may extend the run
    cfg.pop("eval_resolution", None)
    return {"model": meta.get("model"), "spec_params": meta.get("spec_params") or {},
            "config": cfg, "passes": meta.get("passes", ""), "data": meta.get("data"),
            "data_id": meta.get("data_id"), "graph_id": meta.get("graph_id")}


def _same_passes(a: str | None, b: str | None) -> bool:
    """Whether two pass lists run the same passes (``O0`` and none do; ``O2`` and its
    expansion do)."""
    from ..compiler.passes.manager import expand

    try:
        return expand(a or "") == expand(b or "")
    except Exception:  # noqa: BLE001 - a list this version does not know: compare the text
        return (a or "") == (b or "")


def _differences(was: dict, now: dict) -> list[str]:
    """What differs between two runs' settings, one phrase each (``seed 3 -> 0``)."""
    out = []
    known = was.get("data_id") and now.get("data_id")  # older runs lack the ids
    same_data = was.get("data_id") == now.get("data_id") if known else \
        was.get("data") == now.get("data")
    if not same_data:
        if was.get("data") == now.get("data"):
            out.append(f"the contents of data {now.get('data')}")
        else:
            out.append(f"data {was.get('data') or 'none'} -> {now.get('data') or 'none'}")
    if was.get("model") != now.get("model"):
        out.append(f"model {was.get('model') or 'none'} -> {now.get('model') or 'none'}")
    if not _same_passes(was.get("passes"), now.get("passes")):
        out.append(f"passes {was.get('passes') or 'none'} -> {now.get('passes') or 'none'}")
    if was.get("graph_id") and now.get("graph_id") and was["graph_id"] != now["graph_id"] \
            and was.get("model") == now.get("model") and was.get("spec_params") == \
            now.get("spec_params"):
        out.append("the model's layers or wiring (the spec was edited)")
    for group, label in (("spec_params", "-s "), ("config", "")):
        a, b = was.get(group, {}), now.get(group, {})
        for key in sorted(set(a) | set(b)):
            va, vb = a.get(key), b.get(key)
            if va == vb:
                continue
            if isinstance(va, dict) and isinstance(vb, dict):  # e.g. the optimizer's arguments
                for sub in sorted(set(va) | set(vb)):
                    if va.get(sub) != vb.get(sub):
                        out.append(f"{label}{key} {sub} {va.get(sub)} -> {vb.get(sub)}")
            else:
                out.append(f"{label}{key} {va} -> {vb}")
    return out


def check_resumable(run_dir: Path, meta: dict) -> dict:
    """The checkpoint's run settings, if they match ``meta`` (the run about to resume);
    else an ``InputError`` that names every difference. Returns the saved metadata."""
    path = run_dir / ckpt.CHECKPOINT
    saved = ckpt.read_meta(path, "no checkpoint `{path}` to resume from")
    diffs = _differences(_comparable(saved), _comparable(meta))
    if diffs:
        raise InputError(f"the run in `{run_dir}` was made with other settings "
                         f"({'; '.join(diffs)}); resume with the same ones, or start a new run")
    return saved


def check_unfinished(run_dir: Path, epochs: int, done: int | None = None) -> None:
    """Refuse to resume a run that has already trained ``epochs`` epochs."""
    if done is None:
        done = ckpt.read_epoch(run_dir / ckpt.CHECKPOINT)
    if done >= epochs:
        raise InputError(f"the run in `{run_dir}` has already finished {done} epoch(s); "
                         f"give --epochs with more than {done} to extend it")


def check_eval_resolution(job: Job, resolution: int, probe: bool = True) -> None:
    """Refuse, before training, an ``--eval-resolution`` that cannot be evaluated (with
    ``probe``, the generator is asked for one sample at that grid)."""
    from .datasets import generator_call

    if not job.generated:
        raise InputError(f"--eval-resolution regenerates the test data at another grid, so it "
                         f"needs a generator in `train {{ data = … }}`; this run reads "
                         f"`{job.meta['data']}`")
    rec = job.cfg.data
    if rec.name not in GRID_KIND:
        raise InputError(f"--eval-resolution: the `{rec.name}` data has no grid to refine "
                         f"(it works with {', '.join(sorted(GRID_KIND))})")
    # The generator validates the grid (a Darcy grid must nest in its solve grid): ask it
    # for one test sample now rather than after training.
    if probe:
        generator_call(rec, job.cfg.spans.get("data"), job.cfg.seed, resolution,
                       {"n_train": 0, "n_test": 1})


@dataclass
class Result:
    params: dict
    history: list[dict]
    run_dir: Path
    final: dict
    trainer: Trainer | None = None


def fit(job: Job, run_dir: Path, *, resume: bool = False,
        log: Callable[[str], None] = print, progress: bool = True,
        on_epoch: Callable[[int, dict], None] | None = None) -> Result:
    """Train ``job`` in ``run_dir``; with ``resume``, continue from its checkpoint.

    ``on_epoch(epoch, metrics)`` runs after each epoch's checkpoint is written (tests use it
    to interrupt a run). Returns the final parameters, the metrics history and final metrics.
    """
    run_dir = Path(run_dir)
    cfg, trainer = job.cfg, Trainer(job)
    k_init, k_data = jax.random.split(jax.random.key(cfg.seed))
    params = job.model.init(k_init)
    opt_state = trainer.init_opt(params)
    history: list[dict] = []
    start = 0
    path = run_dir / ckpt.CHECKPOINT
    model = job.model
    if resume:
        # The run's settings first: a checkpoint of another setup fails to load with a less
        # helpful message.
        check_resumable(run_dir, job.meta)
        state = ckpt.load(path, model.export_params(params), opt_state)
        params, opt_state, history = (model.import_params(state["params"]), state["opt_state"],
                                      state["history"])
        start, k_data = state["epoch"], state["key"]
        check_unfinished(run_dir, cfg.epochs, start)
        log(f"resuming {run_dir} after epoch {start}")
    run_dir.mkdir(parents=True, exist_ok=True)
    norm = job.norm.arrays()
    meta = dict(job.meta, steps_per_epoch=trainer.steps, batch_size=trainer.batch)
    bar = _Bar(cfg.epochs, start, job.data.n_train, enabled=progress)
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            params, opt_state, loss, rel = trainer.run_epoch(
                params, opt_state, jax.random.fold_in(k_data, epoch))
            loss, rel = float(loss), float(rel)
            seconds = time.perf_counter() - t0
            test = trainer.evaluate(params)
            m = {"epoch": epoch, "train_loss": loss, "train_rel_l2": rel,
                 "test_loss": test["loss"], "test_rel_l2": test["rel_l2"],
                 "lr": float(trainer.schedule(epoch * trainer.steps - 1)),
                 "seconds": round(seconds, 4),
                 "samples_per_s": round(trainer.steps * trainer.batch / max(seconds, 1e-9), 1)}
            history.append(m)
            ckpt.save(path, params=model.export_params(params), opt_state=opt_state,
                      epoch=epoch, key=k_data,
                      history=history, meta=meta, norm=norm)
            bar.update(epoch, m)
            log(f"epoch {epoch}/{cfg.epochs}  loss {loss:.4e}  train rel-L2 {rel:.4e}  "
                f"test rel-L2 {test['rel_l2']:.4e}  lr {m['lr']:.2e}  "
                f"({seconds:.2f} s, {m['samples_per_s']:.0f} samples/s)")
            if on_epoch is not None:
                on_epoch(epoch, m)
    finally:
        bar.close()
    final = trainer.evaluate(params)
    return Result(params, history, run_dir,
                  {"test_rel_l2": final["rel_l2"], "test_loss": final["loss"]}, trainer)


def eval_at_resolution(job: Job, result: Result, resolution: int) -> tuple[dict, tuple]:
    """Test relative L2 on test data regenerated at ``resolution`` (zero-shot super-resolution),
    beside the interpolation baseline when the training grid nests in that one.

    Returns ``{"rel_l2", "baseline_rel_l2" (or None), "baseline_note"}`` and the
    (normalised inputs, target) it was measured on.
    """
    check_eval_resolution(job, resolution, probe=False)
    ds = from_generator(job.cfg.data, job.cfg.spans.get("data"), job.cfg.seed,
                        resolution=resolution, test_only=True)
    ds = fit_to_model(ds, job.model.input_types, job.model.output_types[0])
    trainer = result.trainer
    xs, y = trainer._normalize(ds.x_test), jnp.asarray(ds.y_test)
    out = {"rel_l2": trainer.evaluate(result.params, xs, y)["rel_l2"],
           "baseline_rel_l2": None, "baseline_note": ""}
    out.update(_interpolation_baseline(job, result, xs, np.asarray(y)))
    return out, (xs, y)


def _interpolation_baseline(job: Job, result: Result, xs, y: np.ndarray) -> dict:
    """The model's prediction on the training-resolution test set, interpolated (linear or
    bilinear) to the fine grid, against the fine targets. The generators draw the same test
    functions at every resolution (same seed, one solve grid, docs/DATA.md); where the grids
    nest that is checked on the inputs."""
    kind = GRID_KIND.get(job.cfg.data.name)
    out_t = job.model.output_types[0]
    if kind is None or not out_t.field or out_t.spatial_rank not in (1, 2):
        return {"baseline_note": "no interpolation baseline for this data"}
    periodic = kind == "periodic"
    trainer = result.trainer
    coarse_x = trainer.test_x
    coarse = tuple(job.data.y_test.shape[1: 1 + out_t.spatial_rank])
    fine = tuple(y.shape[1: 1 + out_t.spatial_rank])
    steps = [stride(c, f, periodic) for c, f in zip(coarse, fine)]
    if all(s is not None for s in steps):
        grid = (slice(None), *(slice(None, None, s) for s in steps))
        same = all(shared or np.allclose(np.asarray(x)[grid], np.asarray(c), atol=1e-5)
                   for x, c, shared in zip(xs, coarse_x, trainer.shared))
        if not same:
            return {"baseline_note": "no interpolation baseline: the test sets differ"}
    n = y.shape[0]
    preds = []
    for start in range(0, n, 256):
        idx = jnp.arange(start, min(n, start + 256))
        preds.append(np.asarray(trainer.predict(result.params, trainer._gather(coarse_x, idx))))
    up = interpolate(np.concatenate(preds), fine[0], periodic)
    how = "periodic linear" if periodic else ("bilinear" if len(fine) == 2 else "linear")
    return {"baseline_rel_l2": rel_l2(up, y),
            "baseline_note": f"the {'x'.join(map(str, coarse))} prediction, {how}"}


class _Bar:
    """A rich progress bar over epochs (loss and samples/s); silent when disabled."""

    def __init__(self, total: int, done: int, n: int, enabled: bool):
        self.p = None
        if not enabled or done >= total:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.p = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=True)
        self.task = self.p.add_task("train", total=total, completed=done, info="")
        self.p.start()

    def update(self, epoch: int, m: dict) -> None:
        if self.p is not None:
            self.p.update(self.task, completed=epoch,
                          info=f"loss {m['train_loss']:.3e}  {m['samples_per_s']:.0f} samples/s")

    def close(self) -> None:
        if self.p is not None:
            self.p.stop()


def finish(job: Job, result: Result, eval_resolution: int | None = None,
           log: Callable[[str], None] = print, plots: bool = True) -> dict:
    """Evaluate at ``eval_resolution`` if asked, write ``metrics.json`` and the PNGs."""
    import json

    from . import plots as P

    summary = dict(result.final)
    trainer = result.trainer
    xs, y = trainer.test_x, trainer.test_y
    if eval_resolution is not None:
        ev, (xs, y) = eval_at_resolution(job, result, eval_resolution)
        summary["eval_resolution"] = eval_resolution
        summary["eval_test_rel_l2"] = ev["rel_l2"]
        summary["eval_baseline_rel_l2"] = ev["baseline_rel_l2"]
        summary["eval_baseline"] = ev["baseline_note"]
    record = {"model": job.meta["model"], "spec": job.meta["spec"],
              "spec_params": job.spec_params, "config": job.cfg.describe(),
              "data": job.meta["data"], "n_train": job.data.n_train, "n_test": job.data.n_test,
              "parameters": job.model.param_count, "final": summary, "history": result.history}
    ckpt.atomic_write_text(result.run_dir / "metrics.json", json.dumps(record, indent=2) + "\n")
    if plots and result.history:
        name = job.meta["model"]
        P.loss_curve(result.history, result.run_dir / "loss.png", name)
        k = min(4, int(y.shape[0]))
        idx = jnp.arange(k)
        pred = trainer.predict(result.params, trainer._gather(xs, idx))
        out_t = job.model.output_types[0]
        P.predictions(np.asarray(pred), np.asarray(y[:k]), result.run_dir / "predictions.png",
                      out_t.spatial_rank, f"{name}: test samples at {tuple(y.shape[1:])}")
    return summary
