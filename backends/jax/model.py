"""A compiled model: ``init(key) -> params`` and ``apply(params, *inputs)``, jit-compiled.

The graph is typed per example; ``apply`` maps it over a leading batch axis
with ``jax.vmap`` (so a spec never mentions the batch), after checking the
arrays against the model's input types. Interpretation of the graph happens
only while JAX traces, so a compiled step is pure XLA.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ...compiler.dims import bind, evaluate
from ...compiler.ir import Graph, Node, Wire
from ...compiler.types import NUMPY_DTYPE, TensorType, bundle_str
from ...errors import InputError, LoweringError
from .params import check_shape, dtype_kind, flatten, init_params, resolve
from .rules import RULES, LowerCtx


_SPEC_LAYOUT = ("give a tree in the layout of the spec as written (what the unoptimized "
                "model's init returns)")


@dataclass(frozen=True)
class _Step:
    node: Node
    inputs: tuple[Wire, ...]


def plan(graph: Graph) -> list[_Step]:
    """The nodes to run in order, with their input wires resolved once."""
    steps = []
    for node in graph.topological():
        if node.op != "io.input" and node.op not in RULES and node.op != "io.output":
            raise LoweringError(f"no JAX lowering for op `{node.op}` (node `{node.name}`)")
        steps.append(_Step(node, tuple(graph.inputs_of(node.id))))
    return steps


def run_plan(steps: list[_Step], slots: dict, inputs: list, ctx: LowerCtx) -> list:
    """Evaluate a planned graph on one example's inputs."""
    env: dict[Wire, jax.Array] = {}
    for step in steps:
        node = step.node
        if node.op == "io.input":
            env[(node.id, 0)] = inputs[node.attrs["index"]]
            continue
        ins = [env[w] for w in step.inputs]
        if node.op == "io.output":
            return ins
        params = {k: slots[v] for k, v in node.params.items()}
        outs = RULES[node.op](node, ins, params, ctx)
        for k, value in enumerate(outs):
            env[(node.id, k)] = value
    raise LoweringError("the graph has no output node")  # pragma: no cover


class Model:
    """A graph lowered to JAX. Attributes: ``graph``, ``input_types``, ``output_types``."""

    def __init__(self, graph: Graph, train: bool = False):
        self.graph = graph
        self.train = train
        self.steps = plan(graph)
        self.input_types: list[TensorType] = graph.input_types
        self.output_types: list[TensorType] = graph.output_types
        self._apply = jax.jit(self._batched)

    # -- parameters ---------------------------------------------------------------
    def init(self, key: jax.Array | int = 0) -> dict:
        """Fresh parameters: a nested dict keyed by the spec's instance names."""
        if isinstance(key, int):
            key = jax.random.key(key)
        layout = getattr(self.graph.params, "layout", None)  # set by passes that stack slots
        if layout is not None:
            return layout.init(self.graph.params, key)
        return init_params(self.graph.params, key)

    def import_params(self, params: dict) -> dict:
        """Parameters in the layout of the spec as written (``Model(unoptimized).init``, a
        checkpoint of the unoptimized model) -> this model's layout.

        Passes that stack per-copy slots (``repeat-to-scan``, ``batch-parallel``) record how
        (``graph.params.layout``); slots a pass removed are dropped. A slot that neither the
        given tree nor a recorded stacking provides is a ``LoweringError`` naming it.
        """
        layout = getattr(self.graph.params, "layout", None)
        if layout is not None:
            # named in the spec's layout, before stacking: a missing or misshapen copy is
            # `@block_3/…`, not the stack it would go into
            stacked = {old for _, olds in layout.stacks for old in olds}
            originals = layout.original.roots()
            self._check_tree(params, [s for s in originals if s.path in stacked], _SPEC_LAYOUT,
                             shaped=originals)
        out = layout.to_optimized(self.graph.params, params) if layout is not None else params
        self._check_tree(out, self.graph.params.roots(), _SPEC_LAYOUT)
        return out

    def export_params(self, params: dict) -> dict:
        """This model's parameters -> the layout of the spec as written (the inverse of
        ``import_params``; slots a pass removed as dead stay missing)."""
        # a stack of the wrong length would unstack to the wrong copies
        self._check_tree(params, self.graph.params.roots(),
                         "give a tree in this model's layout (what its init returns)")
        layout = getattr(self.graph.params, "layout", None)
        return layout.to_original(params) if layout is not None else params

    def _check_tree(self, params: dict, required: list, advice: str,
                    shaped: list | None = None) -> None:
        """Every slot of ``required`` present in ``params``, and those of ``shaped`` (default:
        ``required``) that are present of their shapes (``LoweringError`` naming the first)."""
        have = flatten(params, what="the parameters")
        missing = [s.path for s in required if s.path not in have]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise LoweringError(f"parameter @{missing[0]} of `{self.graph.name}` is missing from "
                                f"the given parameters{more}: {advice}")
        for s in required if shaped is None else shaped:
            if s.path in have:
                check_shape(s, have[s.path], f" of `{self.graph.name}`")

    @property
    def param_count(self) -> int:
        """Number of trained scalars (frozen and derived slots excluded)."""
        return self.graph.params.trainable_count()

    # -- application ----------------------------------------------------------------
    def bind_dims(self, inputs) -> dict[str, int]:
        """Check batched inputs against the input types (shapes, and the kind of dtype: bool,
        integer, floating-point, complex); return the symbol sizes they fix."""
        if len(inputs) != len(self.input_types):
            raise InputError(
                f"model `{self.graph.name}` takes {len(self.input_types)} input(s) "
                f"({bundle_str(self.input_types)}), got {len(inputs)}"
            )
        env: dict[str, int] = {}
        batch = None
        for i, (x, t) in enumerate(zip(inputs, self.input_types)):
            shape = tuple(jnp.shape(x))
            if len(shape) != t.rank + 1:
                raise InputError(
                    f"input {i} of `{self.graph.name}` should be a batch of {t} "
                    f"(rank {t.rank + 1} with the batch axis), got shape {shape}"
                )
            if batch is None:
                batch = shape[0]
            elif shape[0] != batch:
                raise InputError(f"inputs disagree on the batch size: {batch} and {shape[0]}")
            for axis, (size, actual) in enumerate(zip(t.shape, shape[1:]), start=1):
                if not bind(size, actual, env):
                    fixed = isinstance(size, int)
                    raise InputError(
                        f"input {i} of `{self.graph.name}` should be a batch of {t}, got "
                        f"shape {shape}" + (f" (with {_fmt_env(env)})" if env else "")
                        + f"\nhint: axis {axis} has size {actual} where the type wants {size}"
                        + ("; the spec fixes that size (a model parameter may set it: "
                           "`-s name=value` at the CLI, keywords in catspec.load)"
                           if fixed else "")
                    )
        for i, (x, t) in enumerate(zip(inputs, self.input_types)):
            for size, actual in zip(t.shape, jnp.shape(x)[1:]):
                try:
                    if evaluate(size, env) != actual:
                        raise InputError(f"input {i}: axis of size {actual} should be {size} "
                                         f"(with {_fmt_env(env)})")
                except KeyError:
                    raise InputError(f"input {i}: cannot determine the size {size}") from None
        for i, (x, t) in enumerate(zip(inputs, self.input_types)):
            _check_dtype_kind(x, t, f"input {i} of `{self.graph.name}`")
        return env

    def _batched(self, params, *inputs, key=None):
        env = self.bind_dims(inputs)
        # Within a kind, arrays run at the declared dtype (float64 data, or float64 under
        # jax_enable_x64, on an f32 model would otherwise promote the whole computation).
        inputs = tuple(_as_declared(x, t) for x, t in zip(inputs, self.input_types))
        slots = resolve(self.graph.params, params)
        ctx = LowerCtx(dims=env, key=key, train=self.train, slots=slots)

        def one(*xs):
            return tuple(run_plan(self.steps, slots, list(xs), ctx))

        if key is None:
            outs = jax.vmap(one)(*inputs)
        else:
            # One key per example, so random ops (dropout) differ across the batch.
            keys = jax.random.split(key, jnp.shape(inputs[0])[0])

            def one_keyed(k, *xs):
                kctx = LowerCtx(dims=env, key=k, train=self.train, slots=slots)
                return tuple(run_plan(self.steps, slots, list(xs), kctx))

            outs = jax.vmap(one_keyed)(keys, *inputs)
        return outs[0] if len(outs) == 1 else outs

    def apply(self, params, *inputs, key: jax.Array | None = None):
        """Run the model on batched inputs (leading batch axis); jit-compiled.

        Returns one array for a single-output model, else a tuple.
        """
        inputs = tuple(_as_array(x, i) for i, x in enumerate(inputs))
        self.bind_dims(inputs)  # fail here, with a clear message, not inside tracing
        return self._apply(params, *inputs, key=_as_key(key))

    __call__ = apply

    def apply_unjitted(self, params, *inputs, key=None):
        """The same function without ``jax.jit`` (for composing inside your own jit)."""
        return self._batched(params, *inputs, key=_as_key(key))

    # -- convenience --------------------------------------------------------------
    def example_inputs(self, key: jax.Array | int = 0, batch: int = 2,
                       dims: dict[str, int] | None = None) -> list[jax.Array]:
        """Random inputs of the model's types; ``dims`` gives sizes for free symbols."""
        if isinstance(key, int):
            key = jax.random.key(key)
        dims = dict(dims or {})
        free = set().union(*(t.symbols for t in self.input_types))
        for name, size in dims.items():
            if name not in free:
                raise InputError(
                    f"`{name}` is not a free size of `{self.graph.name}`'s inputs; "
                    + (f"they have {', '.join(sorted(free))}" if free else "they have none"))
            if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
                raise InputError(f"the size of `{name}` is a positive int, got {size!r}")
        out = []
        for i, t in enumerate(self.input_types):
            missing = sorted(t.symbols - set(dims))
            if missing:
                raise InputError(
                    f"input {i} has free size(s) {', '.join(missing)}; give them "
                    f"(dims={{{missing[0]!r}: 64}}; --dim {missing[0]}=64 at the CLI)"
                )
            shape = (batch, *(evaluate(s, dims) for s in t.shape))
            k = jax.random.fold_in(key, i)
            dtype = jnp.dtype(NUMPY_DTYPE[t.dtype])
            if jnp.issubdtype(dtype, jnp.integer):
                out.append(jax.random.randint(k, shape, 0, 2, dtype))
            else:
                out.append(jax.random.normal(k, shape, dtype))
        return out


def _check_dtype_kind(x, t: TensorType, what: str) -> None:
    """An array whose kind of element differs from the declared one (floats for integer
    token ids, integers or bools for floats, …) is refused, not cast: a cast would silently
    truncate ids, and float ids would fail deep inside tracing. Within a kind the array is
    cast to the declared dtype (float64 or float16 data on an f32 model, int64 ids on an i32
    model)."""
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    want = jnp.dtype(NUMPY_DTYPE[t.dtype])
    kind = dtype_kind(want)
    if dtype_kind(dtype) == kind:
        return
    module = "np" if hasattr(np, want.name) else "jnp"  # bfloat16 is only jnp's
    raise InputError(
        f"{what} should be a batch of {t} ({kind} values), got dtype {dtype}\n"
        f"hint: convert the array first, e.g. `x.astype({module}.{want.name})`; catspec does "
        "not cast between integer, floating-point and bool inputs"
    )


def _as_array(x, i: int):
    """An input as given, or a nested list as an array; ``None`` is refused by name."""
    if x is None:
        raise InputError(f"input {i} is None; give an array with a leading batch axis")
    if isinstance(x, (list, tuple)):
        return np.asarray(x)
    return x


def _as_declared(x, t: TensorType):
    want = jnp.dtype(NUMPY_DTYPE[t.dtype])
    return x if x.dtype == want else x.astype(want)


def _as_key(key):
    """``key=`` as a PRNG key: an int seeds one (as ``init`` accepts), a key array must be
    a single key."""
    if key is None:
        return None
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if not hasattr(key, "shape"):
        raise InputError(f"key= is a PRNG key (jax.random.key(seed)) or an int seed, got "
                         f"{type(key).__name__}")
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if (typed and key.shape != ()) or (not typed and key.shape != (2,)):
        raise InputError(f"key= is one PRNG key, got an array of keys of shape {key.shape}; "
                         "the model splits it per example itself")
    return key


def _fmt_env(env: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
