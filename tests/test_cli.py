"""The CLI through typer's runner: output, exit codes, no tracebacks."""

from __future__ import annotations

import numpy as np
import pytest
from catspec.cli import app
from conftest import SPECS
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("name", ["mlp.cat", "mlp.yaml", "cnn.cat", "cnn.yaml"])
def test_check_shipped_specs(name):
    result = invoke("check", SPECS / name)
    assert result.exit_code == 0
    assert result.output == f"{SPECS / name}: ok (1 model)\n"


def test_check_reports_every_broken_file(tmp_path):
    bad1 = tmp_path / "a.cat"
    bad1.write_text("model m : Tensor[4] -> Tensor[4] =\n    dens(4)\n")
    bad2 = tmp_path / "b.cat"
    bad2.write_text("model m : Tensor[4] -> Tensor[4] =\n    dense(4) >>\n")
    result = invoke("check", bad1, bad2)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{bad1}:2:5: error: unknown name `dens`\n"
        "        dens(4)\n"
        "        ^^^^\n"
        "hint: did you mean `dense`?\n"
        f"{bad2}:2:16: error: unexpected end of input\n"
        "        dense(4) >>\n"
        "                   ^\n"
        "hint: expected an expression\n"
        "2 errors\n"
    )
    assert "Traceback" not in result.output


def test_check_missing_file(tmp_path):
    result = invoke("check", tmp_path / "nope.cat")
    assert result.exit_code == 1
    assert result.stderr == f"error: no such file `{tmp_path / 'nope.cat'}`\n1 error\n"


def test_show_prints_ir_and_parameters():
    result = invoke("show", SPECS / "mlp.cat", "-s", "width=16", "-s", "depth=1")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "graph mlp(%0: f32[784]) -> f32[10] {\n"
        "  %1: f32[16] = nn.dense[out=16, bias=true](%0) {w=@dense_0/w, b=@dense_0/b}  # dense_0  mlp.cat:4:6   ^0.0\n"
        "  %2: f32[16] = act.relu(%1)                                                  # relu_0   mlp.cat:4:22  ^0.0\n"
        "  %3: f32[10] = nn.dense[out=10, bias=true](%2) {w=@dense_1/w, b=@dense_1/b}  # dense_1  mlp.cat:4:39\n"
        "  return %3\n"
        "}\n"
        "\n"
        "parameters:\n"
        "@dense_0/w  f32[784,16]  trained  init=lecun_normal  dense_0\n"
        "@dense_0/b  f32[16]  trained  init=zeros  dense_0\n"
        "@dense_1/w  f32[16,10]  trained  init=lecun_normal  dense_1\n"
        "@dense_1/b  f32[10]  trained  init=zeros  dense_1\n"
        "total: 12,730 trained\n"
    )


def test_unknown_override_has_did_you_mean():
    result = invoke("show", SPECS / "mlp.cat", "-s", "widht=3")
    assert result.exit_code == 2  # an `-s` override is command-line input
    assert result.stderr == ("<-s>:1:1: error: model `mlp` has no parameter `widht`\n"
                             "    widht=3\n    ^^^^^\nhint: did you mean `width`?\n")


def test_override_that_is_not_a_literal_points_at_the_value():
    result = invoke("check", SPECS / "mlp.cat", "-s", "width=abc")
    assert result.exit_code == 2
    assert result.stderr == ("<-s>:1:7: error: override value `abc` is not a literal\n"
                             "    width=abc\n          ^^^\n"
                             "hint: give an int, like 32\n"
                             "1 error\n")


def test_ill_typed_override():
    result = invoke("check", SPECS / "mlp.cat", "-s", "width=1.5")
    assert result.exit_code == 2
    assert result.stderr == ("<-s>:1:7: error: override `-s width=…` must be an int, got a float "
                             "`1.5`\n    width=1.5\n          ^^^\n1 error\n")


@pytest.mark.parametrize("command", ["show", "run", "compile"])
def test_ill_typed_override_is_a_usage_error_with_its_message_kept(command):
    # `-s width=true` used to exit 1 while a malformed `-s width` exited 2
    result = invoke(command, SPECS / "mlp.cat", "-s", "width=true")
    assert result.exit_code == 2
    assert result.stderr == ("<-s>:1:7: error: override `-s width=…` must be an int, got a bool "
                             "`true`\n    width=true\n          ^^^^\n")


def test_spec_error_next_to_a_good_override_still_exits_1(tmp_path):
    spec = tmp_path / "m.cat"
    spec.write_text("model m(w: int = 4) : Tensor[4] -> Tensor[4] =\n    dens(w)\n")
    result = invoke("show", spec, "-s", "w=8")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{spec}:2:5: error: unknown name `dens`\n")


def test_malformed_set_is_usage_error():
    result = invoke("show", SPECS / "mlp.cat", "-s", "width")
    assert result.exit_code == 2
    assert result.stderr == "error: `-s width` should be `-s name=value`\n"


def test_run_random_input_prints_summary(tmp_path):
    out = tmp_path / "y.npy"
    result = invoke("run", SPECS / "cnn.cat", "--batch", "3", "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "model cnn: 61,706 parameters"
    assert lines[1] == "input 0: shape (3, 28, 28, 1) float32"
    assert lines[2].startswith("output 0: shape (3, 10) float32  mean ")
    assert np.load(out).shape == (3, 10)


def test_run_with_input_file(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 784)))  # float64 on disk: converted, never silently promoted
    result = invoke("run", SPECS / "mlp.yaml", "--input", x)
    assert result.exit_code == 0, result.output
    assert "input 0: shape (2, 784) float32" in result.stdout
    assert "output 0: shape (2, 10) float32" in result.stdout


def test_run_with_wrong_input_shape(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 100), np.float32))
    result = invoke("run", SPECS / "mlp.cat", "--input", x)
    assert result.exit_code == 3
    assert result.stderr == (
        "error: input 0 of `mlp` should be a batch of f32[784], got shape (2, 100)\n"
        "hint: axis 1 has size 100 where the type wants 784; the spec fixes that size (a model "
        "parameter may set it: `-s name=value` at the CLI, keywords in catspec.load)\n"
    )


def test_run_adds_a_missing_channel_axis_of_size_one_as_train_does(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 16), np.float32))
    result = invoke("run", SPECS / "fno1d_burgers.cat", "--input", x, "-s", "width=4",
                    "-s", "depth=1", "-s", "modes=2")
    assert result.exit_code == 0, result.output
    assert result.stderr == ("note: input 0 has shape (2, 16), without the channel axis of size "
                             "1 of f32{x:N,c:1}; added it\n")
    assert "input 0: shape (2, 16, 1) float32" in result.stdout
    assert "output 0: shape (2, 16, 1) float32" in result.stdout


def test_unknown_command_is_usage_error():
    result = invoke("frobnicate")
    assert result.exit_code == 2


def test_outputs_land_where_asked_with_ordinary_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "y"  # no .npy suffix: the file is still exactly `y`
        result = invoke("run", SPECS / "mlp.cat", "-o", out)
        assert result.exit_code == 0 and result.stdout.endswith(f"wrote {out}\n")
        assert np.load(out).shape == (4, 10)
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        spec = tmp_path / "m.cat"
        ugly = (SPECS / "mlp.cat").read_text().replace(" >> ", "   >>   ")
        spec.write_text(ugly)
        spec.chmod(0o664)
        assert invoke("fmt", spec, "--write").exit_code == 0
        assert spec.read_text() != ugly  # rewritten …
        assert stat.S_IMODE(spec.stat().st_mode) == 0o664  # … and the mode kept
    finally:
        os.umask(old)
    result = invoke("convert", SPECS / "mlp.cat", "-o", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == f"error: `{tmp_path}` is a directory; give a file name\n"


def test_train_section_schedule_arguments_are_checked(tmp_path):
    spec = tmp_path / "s.cat"
    spec.write_text("model s : Tensor[2] -> Tensor[1] = dense(1)\n"
                    "train {\n    epochs = 2\n    schedule = cosine(warmup=2)\n}\n")
    result = invoke("check", spec)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{spec}:4:16: error: `cosine`: a warmup of 2 epoch(s) leaves nothing of a 2-epoch run")
    assert "hint: make `warmup` smaller than `epochs`" in result.stderr


def test_model_name_differing_in_case_gets_a_did_you_mean(tmp_path):
    spec = tmp_path / "two.cat"
    spec.write_text("model a : Tensor[4] -> Tensor[4] = dense(4)\n"
                    "model mlp2 : Tensor[4] -> Tensor[4] = dense(4)\n")
    result = invoke("show", spec, "-m", "A")
    assert result.exit_code == 2  # the command line is wrong, not the spec
    assert result.stderr == "error: no model named `A`\nhint: did you mean `a`?\n"
    result = invoke("show", spec, "-m", "MLP")
    assert result.stderr == "error: no model named `MLP`\nhint: did you mean `mlp2`?\n"
    result = invoke("show", spec, "-m", "xyz")
    assert result.stderr == "error: no model named `xyz`\nhint: models here: a, mlp2\n"


TOKENS = ("model tok(vocab: int = 5) : Tensor[T, dtype=i32] -> Tensor[T, 2] =\n"
          "    embedding(vocab, 2)\n")


def test_run_refuses_float_ids_for_an_integer_input(tmp_path):
    tok = tmp_path / "tok.npy"
    np.save(tok, np.ones((1, 3), np.float32))
    # the shipped transformer (was: "internal error: ValueError: indices must have an
    # integer type", exit 4); refused before anything is compiled
    result = invoke("run", SPECS / "transformer_encoder.cat", "-i", tok, "-s", "d=4",
                    "-s", "layers=1")
    assert result.exit_code == 3
    assert result.stderr == (
        "error: input 0 of `transformer_encoder` should be a batch of i32[T] (integer values), "
        "got dtype float32\n"
        "hint: convert the array first, e.g. `x.astype(np.int32)`; catspec does not cast "
        "between integer, floating-point and bool inputs\n")
    spec = tmp_path / "tok.cat"
    spec.write_text(TOKENS)
    np.save(tok, np.ones((1, 3), bool))
    result = invoke("run", spec, "-i", tok)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: input 0 of `tok` should be a batch of i32[T] "
                                    "(integer values), got dtype bool\n")
    np.save(tok, np.array([[0, 4, 1]], np.int64))  # numpy's default int: same kind, runs
    result = invoke("run", spec, "-i", tok)
    assert result.exit_code == 0, result.output
    assert "output 0: shape (1, 3, 2) float32" in result.stdout
    # ids outside the vocabulary would be looked up as NaN rows: refused, exit 3
    np.save(tok, np.array([[0, 5, 1]], np.int32))
    result = invoke("run", spec, "-i", tok)
    assert result.exit_code == 3
    assert result.stderr == ("error: input 0 holds ids from 0 to 5, but `embedding_0` has a "
                             "vocabulary of 5 (ids 0..4)\nhint: map the ids into range, or "
                             "raise the vocabulary size (-s …)\n")


@pytest.mark.parametrize(("dtype", "name"), [(np.int32, "int32"), (np.bool_, "bool")])
def test_run_refuses_integers_and_bools_for_a_float_input(tmp_path, dtype, name):
    x = tmp_path / "x.npy"
    np.save(x, np.ones((1, 784), dtype))
    result = invoke("run", SPECS / "mlp.cat", "-i", x, "-s", "width=2", "-s", "depth=1")
    assert result.exit_code == 3
    assert result.stderr == (
        f"error: input 0 of `mlp` should be a batch of f32[784] (floating-point values), got "
        f"dtype {name}\n"
        "hint: convert the array first, e.g. `x.astype(np.float32)`; catspec does not cast "
        "between integer, floating-point and bool inputs\n")


def test_model_api_checks_the_kind_of_dtype():
    from catspec.api import load
    from catspec.backends.jax.model import Model
    from catspec.errors import InputError

    m = Model(load(TOKENS))
    with pytest.raises(InputError) as err:
        m.bind_dims([np.zeros((2, 3), np.float32)])
    assert str(err.value).startswith(
        "input 0 of `tok` should be a batch of i32[T] (integer values), got dtype float32\n")
    assert m.bind_dims([np.zeros((2, 3), np.uint8)]) == {"T": 3}  # any integer dtype


def test_out_of_memory_message():
    from catspec.cli import out_of_memory_message
    from jax.errors import JaxRuntimeError

    hint = ("hint: lower the sizes (-s name=…, --dim), the batch size (--batch, or "
            "`batch_size` in the train section), or use a machine with more memory")
    cpu = JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 40000000016 bytes.")
    assert out_of_memory_message(cpu) == (
        f"error: out of memory: tried to allocate 40,000,000,016 bytes (37.3 GiB)\n{hint}")
    gpu = JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate "
                          "6291456 bytes.\nBufferAssignment OOM Debugging.")
    assert out_of_memory_message(gpu).startswith(
        "error: out of memory: tried to allocate 6,291,456 bytes (6.0 MiB)\n")
    assert out_of_memory_message(JaxRuntimeError("RESOURCE_EXHAUSTED: no bytes said")) == (
        f"error: out of memory\n{hint}")
    numpy_oom = MemoryError("Unable to allocate 37.3 GiB for an array with shape (100000, "
                            "100000) and data type float32")
    assert out_of_memory_message(numpy_oom) == (
        f"error: out of memory: tried to allocate 37.3 GiB\n{hint}")
    assert out_of_memory_message(JaxRuntimeError("INTERNAL: something else")) is None
    assert out_of_memory_message(RuntimeError("Out of memory allocating 5 bytes")) is None


def test_out_of_memory_is_an_input_error_not_a_bug(monkeypatch):
    from catspec.backends.jax.model import Model
    from jax.errors import JaxRuntimeError

    def init(self, key=0):  # what `-s width=100000000` does, without allocating it
        raise JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 313600000000 "
                              "bytes.")

    monkeypatch.setattr(Model, "init", init)
    result = invoke("run", SPECS / "mlp.cat", "-s", "width=100000000")
    assert result.exit_code == 3
    assert result.stderr == (
        "error: out of memory: tried to allocate 313,600,000,000 bytes (292.1 GiB)\n"
        "hint: lower the sizes (-s name=…, --dim), the batch size (--batch, or `batch_size` in "
        "the train section), or use a machine with more memory\n")


def test_unknown_dump_after_is_a_usage_error():
    result = invoke("compile", SPECS / "mlp.cat", "--dump-after", "csee")
    assert result.exit_code == 2  # as `--passes csee` is
    assert result.stderr == (
        "error: cannot dump after `csee`: no such pass; known passes: batch-parallel, "
        "canonicalize, cse, dce, fold-constants, fuse-dense, repeat-to-scan, or `all` "
        "(did you mean `cse`?)\n")
    result = invoke("compile", SPECS / "mlp.cat", "--dump-after", "fuse-dense")
    assert result.exit_code == 2
    assert result.stderr == ("error: cannot dump after `fuse-dense`: it is not among the passes "
                             "that run (canonicalize, cse, dce, fold-constants)\n")
    result = invoke("compile", SPECS / "mlp.cat", "-s", "width=2", "--dump-after", "cse")
    assert result.exit_code == 0 and "// ---- IR after cse ----" in result.stderr


def test_version_and_unknown_dim():
    from catspec import __version__

    assert invoke("--version").stdout == f"catspec {__version__}\n"
    result = invoke("run", SPECS / "mlp.cat", "-d", "M=8")
    assert result.exit_code == 2 and result.stderr == (
        "error: `--dim M=…`: the model's inputs have no free size `M` (free sizes: none)\n")


def test_check_reports_every_bad_train_setting(tmp_path):
    spec = tmp_path / "bad.cat"
    spec.write_text("model m : Tensor[4] -> Tensor[1] = dense(1)\ntrain {\n    epoch = 2\n"
                    "    optimizer = adma(lr=1e-3)\n}\n")
    result = invoke("check", spec)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"{spec}:3:5: error: unknown train setting `epoch`"
    assert lines[4] == f"{spec}:4:17: error: unknown optimizer `adma`"
    assert lines[-1] == "2 errors"


def test_run_refuses_unreadable_or_empty_inputs_and_unwritable_outputs(tmp_path):
    """Found by a second review: these were 'internal error' (exit 4)."""
    args = ("-s", "width=2", "-s", "depth=1")
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 784), np.float32))
    result = invoke("run", SPECS / "mlp.cat", "-i", empty, *args)
    assert result.exit_code == 3
    assert result.stderr == (f"error: `{empty}` holds no examples (shape (0, 784)); its first "
                             "axis is the batch\n")
    text = tmp_path / "text.npy"
    text.write_text("not an array\n")
    result = invoke("run", SPECS / "mlp.cat", "-i", text, *args)
    assert result.exit_code == 3
    assert result.stderr == f"error: cannot read `{text}` as a .npy array: it is not a .npy file\n"
    result = invoke("run", SPECS / "mlp.cat", "-c", empty, *args)
    assert result.exit_code == 3
    assert result.stderr == (f"error: `{empty}` holds one array, not a checkpoint: give a run "
                             "directory or its checkpoint.npz\n")
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = invoke("run", SPECS / "mlp.cat", "-o", blocker / "y.npy", *args)
    assert result.exit_code == 2
    assert result.stderr == (f"error: cannot write `{blocker / 'y.npy'}`: `{blocker}` is a "
                             "file, not a directory\n")


def test_a_parse_error_in_an_override_points_into_the_value():
    result = invoke("check", SPECS / "mlp.cat", "-s", "width=0x10")
    assert result.exit_code == 2
    assert result.stderr == ("<-s>:1:8: error: unexpected `x10`\n    width=0x10\n           ^^^\n"
                             "hint: the expression already ended before this; remove it\n"
                             "1 error\n")


def test_run_refuses_more_input_files_than_the_model_takes(tmp_path):
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", np.ones((2, 784), np.float32))
    result = invoke("run", SPECS / "mlp.cat", "-i", tmp_path / "a.npy", "-i", tmp_path / "b.npy")
    assert result.exit_code == 3
    assert result.stderr == "error: model `mlp` takes 1 input(s) (f32[784]), got 2\n"


def test_schema_output_to_a_path_it_cannot_write_is_a_usage_error(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    result = invoke("schema", "-o", afile / "s.json")
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write `{afile / 's.json'}`: `{afile}` is a file, not " \
                            "a directory\n"
    result = invoke("schema", "-o", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == f"error: `{tmp_path}` is a directory; give a file name\n"


def test_run_refuses_sizes_beyond_the_machines_memory_before_making_them(tmp_path):
    spec = tmp_path / "free.cat"
    spec.write_text("model m : Tensor[N] -> Tensor[N] =\n    relu\n")
    result = invoke("run", spec, "-d", "N=1000000000000")  # XLA would abort the process
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "error: out of memory: the parameters, inputs and outputs need 32,000,000,000,000 bytes "
        "(29.1 TiB), more than this machine's ")
    assert result.stderr.endswith(
        "\nhint: lower the sizes (-s name=…, --dim) or the batch size (--batch)\n")


def test_check_reports_the_first_error_of_every_model_in_a_file(tmp_path):
    spec = tmp_path / "two.cat"
    spec.write_text("model m : Tensor[4] -> Tensor[5] =\n    relu\n\n"
                    "model n : Tensor[4] -> Tensor[6] =\n    relu\n\n"
                    "model fine : Tensor[4] -> Tensor[4] = relu\n")
    result = invoke("check", spec)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{spec}:1:24: error: model `m` computes f32[4] but its signature says f32[5]\n"
        "    model m : Tensor[4] -> Tensor[5] =\n"
        "                           ^^^^^^^^^\n"
        "hint: check the last layer's size, or the declared output type\n"
        f"{spec}:4:24: error: model `n` computes f32[4] but its signature says f32[6]\n"
        "    model n : Tensor[4] -> Tensor[6] =\n"
        "                           ^^^^^^^^^\n"
        "hint: check the last layer's size, or the declared output type\n"
        "2 errors\n")


def test_a_byte_order_mark_is_accepted_and_an_npz_input_is_named_as_such(tmp_path):
    spec = tmp_path / "bom.cat"
    spec.write_bytes(b"\xef\xbb\xbfmodel m : Tensor[4] -> Tensor[4] = relu\n")
    result = invoke("check", spec)
    assert result.exit_code == 0 and result.stdout == f"{spec}: ok (1 model)\n"
    np.savez(tmp_path / "x.npz", np.ones((2, 4), np.float32))
    result = invoke("run", spec, "-i", tmp_path / "x.npz")
    assert result.exit_code == 3
    assert result.stderr == (f"error: `{tmp_path / 'x.npz'}` is an .npz archive; give one .npy "
                             "file per input (np.save), each with its own -i\n")
