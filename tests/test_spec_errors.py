"""Malformed specs end in a SpecError with exact text: location, caret excerpt, hint."""

from __future__ import annotations

import pytest

from catspec.compiler import elaborate, module_from_text
from catspec.errors import SpecError

CASES = {
    "size_too_large": (
        "model m(d: int = 2000000000000) : Tensor[d] -> Tensor[d] =\n    relu\n",
        "size_too_large.cat:1:35: error: type [2000000000000]: sizes above 2^40 = "
        "1,099,511,627,776 are refused\n"
        "    model m(d: int = 2000000000000) : Tensor[d] -> Tensor[d] =\n"
        "                                      ^^^^^^^^^\n"
        "hint: check the model parameters (and any -s overrides) that set its sizes",
    ),
    "size_not_positive": (
        "model m(width: int = 0) : Tensor[4] -> Tensor[4] =\n    dense(width) >> dense(4)\n",
        "size_not_positive.cat:2:5: error: `dense` would produce f32[0]: sizes must be positive\n"
        "        dense(width) >> dense(4)\n        ^^^^^^^^^^^^\n"
        "hint: check the arguments (and any -s overrides) that set its sizes",
    ),
    "type_size_not_positive": (
        "model m(n: int = -2) : Tensor[n] -> Tensor[n] =\n    relu\n",
        "type_size_not_positive.cat:1:31: error: a size must be a positive int, got -2\n"
        "    model m(n: int = -2) : Tensor[n] -> Tensor[n] =\n                                  ^\n"
        "hint: check the parameter (or -s override) that sets it",
    ),
    "syntax": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4) >> >> relu\n",
        "syntax.cat:2:17: error: unexpected `>>`\n        dense(4) >> >> relu\n                    ^^\nhint: expected an expression",
    ),
    "unclosed": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4 >> relu\n",
        "unclosed.cat:2:20: error: unexpected end of input\n        dense(4 >> relu\n                       ^\nhint: expected `)`, `,`",
    ),
    "unknown_op": (
        "model m : Tensor[4] -> Tensor[4] =\n    dens(4) >> relu\n",
        "unknown_op.cat:2:5: error: unknown name `dens`\n        dens(4) >> relu\n        ^^^^\nhint: did you mean `dense`?",
    ),
    "unknown_kwarg": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(outt=4)\n",
        "unknown_kwarg.cat:2:11: error: `dense` has no argument `outt`\n        dense(outt=4)\n              ^^^^^^\nhint: did you mean `out`?",
    ),
    "missing_arg": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense >> relu\n",
        "missing_arg.cat:2:5: error: `dense` is missing its argument `out`\n        dense >> relu\n        ^^^^^\nhint: e.g. `dense(out=…)`",
    ),
    "too_many_args": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4, true, 3)\n",
        "too_many_args.cat:2:20: error: `dense` takes at most 2 argument(s), got 3\n        dense(4, true, 3)\n                       ^\nhint: its arguments are out, bias",
    ),
    "arity": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4) >> swap\n",
        "arity.cat:2:17: error: cannot compose: `dense` has 1 output(s) but `swap` takes 2 input(s)\n        dense(4) >> swap\n                    ^^^^\nhint: use `@` to run morphisms side by side, or `copy`/`drop` to match the wires",
    ),
    "arity_of_a_product": (
        "model m : Tensor[4] -> Tensor[4] =\n    (dense(4) @ dense(4)) >> relu\n",
        "arity_of_a_product.cat:2:30: error: cannot compose: the parallel product (`@`) has 2 output(s) but `relu` takes 1 input(s)\n        (dense(4) @ dense(4)) >> relu\n                                 ^^^^\nhint: use `@` to run morphisms side by side, or `copy`/`drop` to match the wires",
    ),
    "shape_mismatch": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(8) + dense(4)\n",
        "shape_mismatch.cat:2:5: error: `add` expects inputs of one type, got f32[8] and f32[4]\n        dense(8) + dense(4)\n        ^^^^^^^^^^^^^^^^^^^\nhint: insert a `dense` or `reshape` so both branches agree",
    ),
    "output_mismatch": (
        "model m : Tensor[4] -> Tensor[3] =\n    dense(4) >> relu\n",
        "output_mismatch.cat:1:24: error: model `m` computes f32[4] but its signature says f32[3]\n    model m : Tensor[4] -> Tensor[3] =\n                           ^^^^^^^^^\nhint: check the last layer's size, or the declared output type",
    ),
    "unknown_param": (
        "model m(width: int = 4) : Tensor[4] -> Tensor[4] =\n    dense(widht)\n",
        "unknown_param.cat:2:11: error: unknown name `widht`\n        dense(widht)\n              ^^^^^\nhint: did you mean `width`?",
    ),
    "bad_param_type": (
        "model m(width: integer = 4) : Tensor[4] -> Tensor[4] =\n    dense(width)\n",
        "bad_param_type.cat:1:16: error: unknown parameter type `integer`\n    model m(width: integer = 4) : Tensor[4] -> Tensor[4] =\n                   ^^^^^^^\nhint: did you mean `int`?",
    ),
    "bad_dtype": (
        "model m : Tensor[4, dtype=f33] -> Tensor[4] =\n    dense(4)\n",
        "bad_dtype.cat:1:11: error: unknown dtype `f33`\n    model m : Tensor[4, dtype=f33] -> Tensor[4] =\n              ^^^^^^^^^^^^^^^^^^^^\nhint: did you mean `f32`?",
    ),
    "wrong_arg_type": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4.5)\n",
        "wrong_arg_type.cat:2:11: error: `dense`: `out` must be an int, got a float `4.5`\n        dense(4.5)\n              ^^^",
    ),
    "bad_padding": (
        'model m : Tensor[8, 8, 1] -> Tensor[8, 8, 4] =\n    conv(4, padding="sme")\n',
        'bad_padding.cat:2:13: error: `conv`: `padding` must be one of "same", "valid", got "sme"\n        conv(4, padding="sme")\n                ^^^^^^^^^^^^^\nhint: did you mean `same`?',
    ),
    "conv_rank": (
        "model m : Tensor[4] -> Tensor[4] =\n    conv(4)\n",
        "conv_rank.cat:2:5: error: `conv` expects [*spatial, channels] with 1 to 3 spatial axes, got f32[4]\n        conv(4)\n        ^^^^^^^\nhint: a 1-D signal with c channels is Tensor[N, c]; add a channel axis with reshape",
    ),
    "lowercase_symbol": (
        "model m : Tensor[n, 4] -> Tensor[n, 4] =\n    dense(4)\n",
        "lowercase_symbol.cat:1:18: error: unknown name `n` in a type\n    model m : Tensor[n, 4] -> Tensor[n, 4] =\n                     ^\nhint: free size symbols start with a capital letter, like `N`",
    ),
    "single_quote": (
        "model m : Tensor[4] -> Tensor[4] =\n    conv(4, padding='same')\n",
        "single_quote.cat:2:21: error: unexpected character `'`\n        conv(4, padding='same')\n                        ^\nhint: strings use double quotes",
    ),
    "no_default": (
        "model m(width: int) : Tensor[4] -> Tensor[4] =\n    dense(width)\n",
        "no_default.cat:1:9: error: model parameter `width` has no default\n    model m(width: int) : Tensor[4] -> Tensor[4] =\n            ^^^^^^^^^^\nhint: give one (`width: int = …`) or pass `-s width=…`",
    ),
    "repeat_arity": (
        "model m : Tensor[4] -> Tensor[4] =\n    copy ^ 2\n",
        "repeat_arity.cat:2:5: error: `^` repeats a morphism by composing it with itself, so it needs as many outputs as inputs; `copy` is 1 -> 2\n        copy ^ 2\n        ^^^^",
    ),
    "symbolic_dense": (
        "model m : Tensor[N] -> Tensor[4] =\n    dense(4)\n",
        "symbolic_dense.cat:2:5: error: `dense` needs a known size for its input's last axis, got `N`\n        dense(4)\n        ^^^^^^^^\nhint: parameter shapes must be fixed: give this axis a number in the type",
    ),
    "size_too_complex": (
        'model m : Tensor[N, 4] -> Tensor[N, 4] =\n    conv(4, kernel=2, stride=3, padding="valid") ^ 100\n',
        "size_too_complex.cat:2:5: error: a symbolic size grew too complex (257 terms)\n"
        '        conv(4, kernel=2, stride=3, padding="valid") ^ 100\n'
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "hint: give the grid axes known sizes, or simplify the layer arithmetic",
    ),
    "reparam_on_parameterless": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4) >> relu with lora(2)\n",
        "reparam_on_parameterless.cat:2:27: error: `with lora` changes parameters, but `relu` "
        "has none\n        dense(4) >> relu with lora(2)\n                              ^^^^^^^\n"
        "hint: put the clause on a layer with parameters (`dense(8) with …`), or drop it",
    ),
    "layer_norm_eps": (
        "model m : Tensor[4] -> Tensor[4] =\n    layer_norm(eps=-1.0)\n",
        "layer_norm_eps.cat:2:5: error: `layer_norm`: eps must be positive and finite, got -1.0\n"
        "        layer_norm(eps=-1.0)\n        ^^^^^^^^^^^^^^^^^^^^\n"
        "hint: it keeps the variance away from zero; the default is 1e-5",
    ),
    "attention_heads": (
        "model m : Tensor[T, 4] -> Tensor[T, 4] =\n    copy(3) >> attention(heads=0)\n",
        "attention_heads.cat:2:16: error: `attention`: heads must be at least 1, got 0\n"
        "        copy(3) >> attention(heads=0)\n                   ^^^^^^^^^^^^^^^^^^",
    ),
    "lora_tied": (
        "model m : Tensor[4] -> Tensor[4] =\n    dense(4) as e >> dense(4) with tie(\"e\") with lora(2)\n",
        "lora_tied.cat:2:50: error: `lora` freezes the weight it adapts, @e/w, which `e` also "
        "reads (tied): `e` would stop training too\n"
        "        dense(4) as e >> dense(4) with tie(\"e\") with lora(2)\n"
        "                                                     ^^^^^^^\n"
        "hint: freeze `e` as well if that is meant (`… as e with freeze`), or leave out the tie",
    ),
    "unquoted_string": (
        "model m : Tensor[8, 8, 1] -> Tensor[8, 8, 2] =\n    conv(2, padding=same)\n",
        "unquoted_string.cat:2:21: error: unknown name `same`\n        conv(2, padding=same)\n"
        "                        ^^^^\nhint: no layer, def, parameter or wire has that name; a "
        "string is quoted: \"same\" (in YAML: '\"same\"')",
    ),
    "string_parameter_unquoted": (
        "model m(act: str = relu) : Tensor[4] -> Tensor[4] =\n    relu\n",
        "string_parameter_unquoted.cat:1:20: error: default of `act` must be a string, got a "
        "layer `relu`\n    model m(act: str = relu) : Tensor[4] -> Tensor[4] =\n"
        "                       ^^^^\nhint: a string is quoted: \"relu\" (in YAML: '\"relu\"')",
    ),
    "lora_spectral": (
        "model m : Field[x: 16, c: 2] -> Field[x: 16, c: 2] =\n    spectral_conv(4, 2) with lora(2)\n",
        "lora_spectral.cat:2:30: error: `lora` needs a real matrix whose last axis is the "
        "output; `spectral_conv` keeps complex weights as (re, im) pairs in the last axis of "
        "`w` (4, 2, 2, 2)\n        spectral_conv(4, 2) with lora(2)\n"
        "                                 ^^^^^^^\nhint: use it on dense or conv layers around "
        "the operator (`freeze` and `tie` work on any parameter)",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_text_is_exact(name):
    source, expected = CASES[name]
    with pytest.raises(SpecError) as info:
        elaborate(module_from_text(source, f"{name}.cat"))
    assert str(info.value) == expected
