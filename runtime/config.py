"""The ``train { … }`` section of a model: interpretation and validation.

Entry values are expressions of the spec language, but inside a train section
a call such as ``adam(lr=1e-3)`` is a *configuration record* (a name and its
arguments), never a layer: ``TrainEvaluator`` reuses the spec evaluator for
literals, arithmetic and model parameters, and turns calls and unknown bare
names into ``Record`` values. ``parse_train`` then checks every key and every
record against the tables below and returns a ``TrainConfig``; every mistake
is a ``SpecError`` located at the offending entry, with a did-you-mean hint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..compiler.evaluate import Env, Evaluator, _show, kind_of
from ..errors import Span, SpecError, SpecErrors, did_you_mean
from ..grammar import ast as A


@dataclass(frozen=True)
class Record:
    """A configuration call ``name(args…, key=value…)`` or a bare ``name``."""

    name: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)
    name_span: Span | None = field(default=None, compare=False, repr=False)
    kw_spans: tuple = field(default=(), compare=False, repr=False)

    def where(self, key: str | None = None, fallback: Span | None = None) -> Span | None:
        """The span of argument ``key`` (or of the name when ``key`` is None)."""
        if key is None:
            return self.name_span or self.span or fallback
        for (k, _), s in zip(self.kwargs, self.kw_spans):
            if k == key and s is not None:
                return s
        return self.span or fallback

    def as_dict(self) -> dict:
        return {"name": self.name, "args": list(self.args), "kwargs": dict(self.kwargs)}

    def __str__(self) -> str:
        parts = [_show(a) for a in self.args] + [f"{k}={_show(v)}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"


class TrainEvaluator(Evaluator):
    """Evaluates train-entry values: calls and free names become ``Record``s."""

    def eval_Name(self, e, env):
        try:
            return env.lookup(e.id)
        except KeyError:
            return Record(e.id, span=e.span, name_span=e.span)

    def eval_Call(self, e, env):
        if not isinstance(e.func, A.Name):
            raise SpecError("a train setting is called by its name, like `adam(lr=1e-3)`",
                            e.func.span)
        args = tuple(self.eval(a, env) for a in e.args)
        kwargs = []
        for k in e.kwargs:
            if any(k.name == seen for seen, _ in kwargs):
                raise SpecError(f"`{e.func.id}` got argument `{k.name}` twice", k.span)
            kwargs.append((k.name, self.eval(k.value, env)))
        return Record(e.func.id, args, tuple(kwargs), e.span, e.func.span,
                      tuple(k.span for k in e.kwargs))

    def eval_BinOp(self, e, env):
        if e.op in (">>", "@", "^"):
            raise SpecError(f"`{e.op}` composes layers; a train setting is a value", e.span)
        return super().eval_BinOp(e, env)

    def _chain(self, e, env):  # `+` on non-numbers would build a morphism: refuse
        left, right = self.eval(e.left, env), self.eval(e.right, env)
        if isinstance(left, (int, float)) and isinstance(right, (int, float)):
            return left + right
        raise SpecError(f"`+` is not defined for {kind_of(left)} and {kind_of(right)}", e.span)

    def eval_With(self, e, env):
        raise SpecError("`with` belongs to layers, not to train settings", e.span)

    def eval_As(self, e, env):
        raise SpecError("`as` belongs to layers, not to train settings", e.span)

    def eval_Attr(self, e, env):
        raise SpecError("a train setting cannot refer to an imported module", e.span)


# -- the tables: every record kind with its arguments and defaults ----------------------

REQUIRED = object()

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "adam": {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
             "clip_norm": 0.0},
    "adamw": {"lr": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-4,
              "clip_norm": 0.0},
    "sgd": {"lr": 1e-2, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
            "clip_norm": 0.0},
}  # fmt: skip
SCHEDULES: dict[str, dict[str, Any]] = {
    "constant": {},
    "cosine": {"alpha": 0.0, "warmup": 0},  # warmup in epochs; alpha = final lr fraction
    "step": {"every": REQUIRED, "factor": 0.5},  # every `every` epochs, lr *= factor
    "exponential": {"every": REQUIRED, "factor": 0.5},  # smooth: lr *= factor per `every`
}
LOSSES = ("mse", "relative_l2")
NORMALIZE = ("none", "scalar", "channel")

KEYS = ("data", "loss", "optimizer", "schedule", "epochs", "batch_size", "seed", "normalize",
        "eval_resolution")


@dataclass
class TrainConfig:
    """A validated train section. ``data`` is a generator ``Record`` or a file path."""

    data: Record | str | None = None
    loss: str = "relative_l2"
    optimizer: Record = field(default_factory=lambda: Record("adam", (), (("lr", 1e-3),)))
    opt_args: dict[str, Any] = field(default_factory=lambda: dict(OPTIMIZERS["adam"]))
    schedule: str = "constant"
    sched_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    normalize: str = "none"
    eval_resolution: int | None = None
    spans: dict[str, Span | None] = field(default_factory=dict, repr=False)

    def describe(self) -> dict:
        """A JSON-able summary (stored in checkpoints and metrics.json)."""
        d = asdict(self)
        d.pop("spans")
        d["data"] = self.data.as_dict() if isinstance(self.data, Record) else self.data
        d["optimizer"] = self.optimizer.name
        return d


def _choice(value, choices, what: str, span) -> str:
    name = value.name if isinstance(value, Record) and not value.args and not value.kwargs \
        else value
    if not isinstance(name, str):
        raise SpecError(f"{what} must be one of {', '.join(choices)}, got {kind_of(value)}",
                        span)
    if name not in choices:
        raise SpecError(f"{what} must be one of {', '.join(choices)}, got `{name}`", span,
                        did_you_mean(name, choices))
    return name


def _int(value, what: str, span, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(f"{what} must be an int, got {kind_of(value)} `{_show(value)}`", span)
    if value < minimum:
        raise SpecError(f"{what} must be at least {minimum}, got {value}", span)
    return value


def bind_record(rec: Record, table: dict[str, dict[str, Any]], what: str, span) -> dict:
    """Arguments of a record against its table entry (positional in declaration order)."""
    if rec.name not in table:
        raise SpecError(f"unknown {what} `{rec.name}`", rec.where(None, span),
                        did_you_mean(rec.name, table) or f"{what}s: {', '.join(table)}")
    decl = table[rec.name]
    names = list(decl)
    if len(rec.args) > len(names):
        raise SpecError(f"`{rec.name}` takes at most {len(names)} positional argument(s), "
                        f"got {len(rec.args)}", rec.span or span)
    out = dict(decl)
    out.update(zip(names, rec.args))
    for key, value in rec.kwargs:
        if key not in decl:
            raise SpecError(f"`{rec.name}` has no argument `{key}`", rec.where(key, span),
                            did_you_mean(key, names) or f"its arguments are {', '.join(names)}")
        out[key] = value
    for key, value in out.items():
        if value is REQUIRED:
            raise SpecError(f"`{rec.name}` is missing its argument `{key}`", rec.span or span,
                            f"e.g. `{rec.name}({key}=…)`")
        default = decl[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)) or default is REQUIRED:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = True
        if not ok:
            raise SpecError(f"`{rec.name}`: `{key}` must be "
                            f"{'a bool' if isinstance(default, bool) else 'a number'}, got "
                            f"{kind_of(value)} `{_show(value)}`", rec.where(key, span))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise SpecError(f"`{rec.name}`: `{key}` must not be negative, got {value}",
                            rec.where(key, span))
    return out


def _train_entry(entry, cfg: TrainConfig, ev, env: Env, seen: dict) -> None:
    """Check one `key = value` of a train section and record it in ``cfg``."""
    key, span = entry.key, entry.span
    if key not in KEYS:
        raise SpecError(f"unknown train setting `{key}`", span,
                        did_you_mean(key, KEYS) or f"settings are {', '.join(KEYS)}")
    if key in seen:
        raise SpecError(f"train setting `{key}` is given twice", span)
    seen[key] = span
    value = ev.eval(entry.value, env)
    vspan = entry.value.span or span
    if key == "data":
        if isinstance(value, (Record, str)):
            cfg.data = value
        else:
            raise SpecError(f"`data` must be a generator call like `burgers(n_train=1000)` "
                            f"or a path to an .npz file, got {kind_of(value)}", vspan)
    elif key == "loss":
        cfg.loss = _choice(value, LOSSES, "`loss`", vspan)
    elif key == "normalize":
        cfg.normalize = _choice(value, NORMALIZE, "`normalize`", vspan)
    elif key == "optimizer":
        if isinstance(value, str):
            value = Record(value, span=vspan)
        if not isinstance(value, Record):
            raise SpecError(f"`optimizer` must be like `adam(lr=1e-3)`, got "
                            f"{kind_of(value)}", vspan)
        cfg.opt_args = bind_record(value, OPTIMIZERS, "optimizer", vspan)
        cfg.optimizer = value
    elif key == "schedule":
        if isinstance(value, str):
            value = Record(value, span=vspan)
        if not isinstance(value, Record):
            raise SpecError(f"`schedule` must be like `cosine()`, got {kind_of(value)}",
                            vspan)
        cfg.sched_args = bind_record(value, SCHEDULES, "schedule", vspan)
        cfg.schedule = value.name
    elif key == "epochs":
        cfg.epochs = _int(value, "`epochs`", vspan, 1)
    elif key == "batch_size":
        cfg.batch_size = _int(value, "`batch_size`", vspan, 1)
    elif key == "seed":
        cfg.seed = _int(value, "`seed`", vspan, 0)
    elif key == "eval_resolution":
        cfg.eval_resolution = _int(value, "`eval_resolution`", vspan, 1)
    cfg.spans[key] = vspan


def parse_train(model: A.Model, env: Env) -> TrainConfig:
    """Interpret and validate a model's train section (missing keys take their defaults).

    Args:
        model: the model's AST (``model.train`` may be ``None``).
        env: the environment where the model's parameters are bound.
    """
    cfg = TrainConfig()
    ev = TrainEvaluator()
    seen: dict[str, Span | None] = {}
    errors: list[SpecError] = []  # every bad entry is reported, not just the first
    for entry in model.train or []:
        try:
            _train_entry(entry, cfg, ev, env, seen)
        except SpecErrors as err:
            errors.extend(err.errors)
        except SpecError as err:
            errors.append(err)
    if errors:
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
    if cfg.schedule in ("step", "exponential"):
        _int(cfg.sched_args["every"], f"`{cfg.schedule}`: `every`", cfg.spans.get("schedule"), 1)
    if cfg.schedule == "cosine":
        sspan = cfg.spans.get("schedule")
        alpha, warmup = cfg.sched_args["alpha"], cfg.sched_args["warmup"]
        if alpha > 1:
            raise SpecError(f"`cosine`: `alpha` is the final fraction of the learning rate, "
                            f"between 0 and 1; got {alpha}", sspan)
        _int(warmup, "`cosine`: `warmup`", sspan, 0)
        if warmup >= cfg.epochs:
            raise SpecError(f"`cosine`: a warmup of {warmup} epoch(s) leaves nothing of a "
                            f"{cfg.epochs}-epoch run", sspan,
                            "make `warmup` smaller than `epochs`")
    return cfg
