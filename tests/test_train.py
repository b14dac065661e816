"""The training workflow: train-section validation, loss descent, exact resume, atomic
checkpoints, frozen parameters, and `catspec train` / `catspec data` through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax
import numpy as np
import pytest
from catspec.backends.jax.params import flatten
from catspec.cli import app
from catspec.errors import InputError, SpecError
from catspec.runtime import checkpoint as ckpt
from catspec.runtime.config import Record
from catspec.runtime.train import Trainer, check_resumable, fit, new_run_dir, prepare
from catspec.runtime.trained import load_run
from typer.testing import CliRunner

runner = CliRunner()

TINY = """\
model tiny(width: int = 8) : Field[x: N, c: 1] -> Field[x: N, c: 1] =
    {first} >> tanh >> dense(1)
train {{
    data = "data.npz"
    loss = {loss}
    optimizer = {opt}
    schedule = cosine(warmup=1)
    epochs = 4
    batch_size = 8
    normalize = "channel"
}}
"""


def write_spec(tmp_path: Path, first="dense(width)", loss="relative_l2",
               opt="adam(lr=1e-2)") -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12, 1)).astype(np.float32)
    y = np.sin(2 * x) + 0.5 * x + 1.0
    np.savez(tmp_path / "data.npz", x_train=x[:28], y_train=y[:28], x_test=x[28:],
             y_test=y[28:])
    spec = tmp_path / "tiny.cat"
    spec.write_text(TINY.format(first=first, loss=loss, opt=opt))
    return spec


def trajectory(history):
    keys = ("epoch", "train_loss", "train_rel_l2", "test_loss", "test_rel_l2", "lr")
    return [tuple(m[k] for k in keys) for m in history]


def test_loss_decreases(tmp_path):
    job = prepare(write_spec(tmp_path, loss="mse"), epochs=6)
    result = fit(job, tmp_path / "run", log=lambda s: None, progress=False)
    losses = [m["train_loss"] for m in result.history]
    assert len(losses) == 6
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[-1]["test_rel_l2"] < result.history[0]["test_rel_l2"]


@pytest.mark.parametrize("first, shape", [("dense(width)", "scan"),
                                          ("conv(width, 3)", "steps")])
def test_resume_reproduces_uninterrupted_run(tmp_path, first, shape):
    # Both loop shapes: one lax.scan per epoch, or (convolutions on the CPU) one jitted
    # step per batch.
    spec = write_spec(tmp_path, first=first)
    assert Trainer(prepare(spec)).loop == shape
    full = fit(prepare(spec), tmp_path / "full", log=lambda s: None, progress=False)

    def interrupt(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(prepare(spec), tmp_path / "cut", log=lambda s: None, progress=False,
            on_epoch=interrupt)
    saved = json.loads(np.load(tmp_path / "cut" / ckpt.CHECKPOINT)["history"].tobytes())
    assert [m["epoch"] for m in saved] == [1, 2]
    resumed = fit(prepare(spec), tmp_path / "cut", resume=True, log=lambda s: None,
                  progress=False)
    assert trajectory(resumed.history) == trajectory(full.history)
    a, b = flatten(full.params), flatten(resumed.params)
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / ckpt.CHECKPOINT
    params = {"w": jax.numpy.ones((3,))}
    args = {"params": params, "opt_state": (), "epoch": 1, "key": jax.random.key(0),
            "history": [], "meta": {}, "norm": {}}
    ckpt.save(path, **args)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save(path, **dict(args, epoch=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [ckpt.CHECKPOINT]
    assert path.read_bytes() == before
    monkeypatch.undo()
    assert ckpt.load(path, params, ())["epoch"] == 1


@pytest.mark.parametrize("body, message, hint", [
    ("epoch = 3", "4:5: error: unknown train setting `epoch`", "did you mean `epochs`?"),
    ("optimizer = adma(lr=1e-3)", "4:17: error: unknown optimizer `adma`",
     "did you mean `adam`?"),
    ("optimizer = adam(lr=1e-3, weight_decy=0.1)",
     "4:31: error: `adam` has no argument `weight_decy`", "did you mean `weight_decay`?"),
    ("loss = relative_l1", "4:12: error: `loss` must be one of mse, relative_l2, got `relative_l1`",
     "did you mean `relative_l2`?"),
    ("schedule = step(factor=0.5)", "4:16: error: `step` is missing its argument `every`",
     "e.g. `step(every=…)`"),
    ("data = burger(n_train=4)", "4:12: error: unknown data generator `burger`",
     "did you mean `burgers`?"),
    ("epochs = 0", "4:14: error: `epochs` must be at least 1, got 0", None),
    ("data = dense(4) >> relu",
     "4:12: error: `>>` composes layers; a train setting is a value", None),
])
def test_train_section_errors(tmp_path, body, message, hint):
    spec = tmp_path / "bad.cat"
    spec.write_text("model m(width: int = 4) : Field[x: N, c: 1] -> Field[x: N, c: 1] =\n"
                    "    dense(1)\ntrain {\n    " + body + "\n}\n")
    with pytest.raises(SpecError) as info:
        prepare(spec)
    err = info.value
    assert f"{err.span.line}:{err.span.col}: error: {err.message}" == message
    assert err.hint == hint


def test_train_values_are_records_and_use_model_parameters(tmp_path):
    spec = tmp_path / "m.cat"
    spec.write_text(
        "model m(lr: float = 0.002, n: int = 6) : Field[x: N, c: 1] -> Field[x: N, c: 1] =\n"
        "    dense(1)\ntrain {\n    data = burgers(n_train=n, n_test=n // 2, resolution=16)\n"
        "    optimizer = adamw(lr=lr * 2, weight_decay=1e-3)\n    schedule = step(every=2)\n"
        "    epochs = n + 1\n}\n")
    job = prepare(spec, overrides={"n": "4"})
    cfg = job.cfg
    assert cfg.data == Record("burgers", (), (("n_train", 4), ("n_test", 2),
                                              ("resolution", 16)))
    assert cfg.optimizer.name == "adamw" and cfg.opt_args["lr"] == 0.004
    assert cfg.opt_args["weight_decay"] == 1e-3
    assert (cfg.schedule, cfg.sched_args) == ("step", {"every": 2, "factor": 0.5})
    assert cfg.epochs == 5
    assert (job.data.n_train, job.data.n_test) == (4, 2)
    assert job.data.x_train[0].shape == (4, 16, 1)


def test_frozen_parameters_stay_unchanged(tmp_path):
    spec = write_spec(tmp_path, first="dense(width) with freeze",
                      opt="adamw(lr=1e-2, weight_decay=0.1)")
    job = prepare(spec, epochs=2)
    init = flatten(job.model.init(jax.random.split(jax.random.key(0))[0]))
    trained = flatten(fit(job, tmp_path / "run", log=lambda s: None, progress=False).params)
    frozen = [s.path for s in job.model.graph.params.roots() if not s.trainable]
    assert frozen == ["dense_0/w", "dense_0/b"]
    for path in init:
        same = np.array_equal(np.asarray(init[path]), np.asarray(trained[path]))
        assert same == (path in frozen), path


def test_cli_train_end_to_end(tmp_path):
    spec = write_spec(tmp_path)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(spec), "--epochs", "2", "--run-dir", str(run),
                                 "--no-progress", "-s", "width=4"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "model tiny: 13 parameters"
    assert lines[1] == f"data: {tmp_path / 'data.npz'}: 28 train / 12 test"
    assert lines[3].startswith("epoch 1/2  loss ")
    assert lines[5].startswith("test relative L2 at resolution 12: ")
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.npz", "loss.png", "metrics.json", "predictions.png"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics["history"]] == [1, 2]
    again = runner.invoke(app, ["train", str(spec), "--run-dir", str(run), "--no-progress"])
    assert again.exit_code == 2
    assert again.stderr == (f"error: `{run}` already holds a run; add --resume to continue it "
                            "or choose another --run-dir\n")
    finished = runner.invoke(app, ["train", str(spec), "--run-dir", str(run), "--resume",
                                   "--no-progress", "-s", "width=4"])
    assert finished.exit_code == 3 and finished.stdout == ""  # refused before any data
    assert finished.stderr == (f"error: the run in `{run}` has already finished 2 epoch(s); "
                               "give --epochs with more than 2 to extend it\n")


def test_cli_train_generated_data_and_eval_resolution(tmp_path):
    spec = tmp_path / "g.cat"
    spec.write_text(
        "model g : Field[x: N, c: 1] -> Field[x: N, c: 1] = dense(4) >> gelu >> dense(1)\n"
        "train {\n    data = burgers(n_train=8, n_test=4, resolution=16, solve_resolution=64)\n"
        "    epochs = 1\n    batch_size = 4\n}\n")
    result = runner.invoke(app, ["train", str(spec), "--run-dir", str(tmp_path / "r"),
                                 "--eval-resolution", "32", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "test relative L2 at resolution 16: " in result.stdout
    line = next(x for x in result.stdout.splitlines() if "at resolution 32: " in x)
    assert re.fullmatch(r"test relative L2 at resolution 32: \d+\.\d{6} \(interpolation "
                        r"baseline, the 16 prediction, periodic linear: \d+\.\d{6}\)", line)
    assert result.stderr == ""  # no stencil note for a pointwise model
    final = json.loads((tmp_path / "r" / "metrics.json").read_text())["final"]
    assert final["eval_resolution"] == 32
    assert final["eval_baseline"] == "the 16 prediction, periodic linear"
    assert 0 < final["eval_baseline_rel_l2"] < float("inf")


def test_cli_data(tmp_path):
    out = tmp_path / "b.npz"
    result = runner.invoke(app, ["data", "burgers", "--n", "2", "--resolution", "16",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}: x (2, 16, 1), y (2, 16, 1), grid (16, 1)\n"
    bad = runner.invoke(app, ["data", "burgres", "--out", str(out)])
    assert bad.exit_code == 2
    assert bad.stderr == "error: unknown data generator `burgres`\nhint: did you mean `burgers`?\n"
    assert "Traceback" not in bad.output


def test_interpolation_between_nested_grids():
    from catspec.runtime.interpolate import interpolate, linear_matrix, rel_l2, stride

    assert stride(29, 141, periodic=False) == 5 and stride(29, 71, periodic=False) is None
    assert stride(16, 64, periodic=True) == 4 and stride(16, 60, periodic=True) is None
    # Vertex grids: a linear function is reproduced exactly, also between non-nested grids.
    xc, xf = np.linspace(0, 1, 29), np.linspace(0, 1, 71)
    u = (2.0 + 3.0 * xc)[None, :, None]
    np.testing.assert_allclose(interpolate(u, 71, periodic=False)[0, :, 0], 2.0 + 3.0 * xf,
                               atol=1e-12)
    # Bilinear: a product of linear functions on the square is reproduced too.
    uu = np.einsum("i,j->ij", 1 + xc, 2 - xc)[None, :, :, None]
    want = np.einsum("i,j->ij", 1 + xf, 2 - xf)[None, :, :, None]
    np.testing.assert_allclose(interpolate(uu, 71, periodic=False), want, atol=1e-12)
    # Periodic: coarse points are kept, midpoints average their neighbours across the wrap.
    w = linear_matrix(4, 8, periodic=True)
    assert np.allclose(w[::2], np.eye(4)) and np.allclose(w[7], [0.5, 0, 0, 0.5])
    assert rel_l2(np.ones((2, 3)), 2 * np.ones((2, 3))) == 0.5


def test_trained_model_from_a_run_predicts_in_data_units_at_any_optimization(tmp_path):
    spec = write_spec(tmp_path, first="dense(width) >> (dense(width) >> tanh) ^ 3")
    job = prepare(spec, epochs=2)
    result = fit(job, tmp_path / "run", log=lambda s: None, progress=False)
    x = job.data.x_test[0]
    want = np.asarray(result.trainer.predict(result.params, result.trainer.test_x))
    run = load_run(tmp_path / "run", spec)
    assert run.epoch == 2 and run.meta["model"] == "tiny"
    np.testing.assert_allclose(run.predict(x), want, rtol=1e-5, atol=1e-6)
    scanned = load_run(tmp_path / "run" / "checkpoint.npz", spec, passes="O2")
    assert [n.op for n in scanned.model.graph.nodes()].count("ctl.scan") == 1
    np.testing.assert_allclose(scanned.predict(x), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError) as err:
        load_run(tmp_path / "run", spec, width=4)
    assert str(err.value) == (f"checkpoint `{tmp_path / 'run' / 'checkpoint.npz'}`: "
                              "@dense_0/b has shape (8,), the model wants (4,)")
    # the CLI: `catspec run FILE --checkpoint RUN -i x.npy -o y.npy`, here through -O2
    np.save(tmp_path / "x.npy", x)
    res = runner.invoke(app, ["run", str(spec), "--checkpoint", str(tmp_path / "run"),
                              "-i", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                              "--passes", "O2"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == (
        f"parameters: {tmp_path / 'run' / 'checkpoint.npz'} (after epoch 2; inputs and output "
        "in data units)")
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-6)
    res = runner.invoke(app, ["run", str(spec), "--checkpoint", str(tmp_path / "nope")])
    assert res.exit_code == 3 and res.stderr == f"error: no checkpoint `{tmp_path / 'nope'}`\n"
    cut = tmp_path / "cut.npz"  # a copy cut short
    cut.write_bytes((tmp_path / "run" / "checkpoint.npz").read_bytes()[:500])
    res = runner.invoke(app, ["run", str(spec), "--checkpoint", str(cut)])
    assert res.exit_code == 3
    assert res.stderr.startswith(f"error: cannot read checkpoint `{cut}`: the archive is damaged "
                                 "or cut short (")


def test_cli_train_eval_resolution_notes_grid_cell_stencils(tmp_path):
    spec = tmp_path / "c.cat"
    spec.write_text(
        "model c : Field[x: N, c: 1] -> Field[x: N, c: 1] = conv(4, 3) >> gelu >> dense(1)\n"
        "train {\n    data = burgers(n_train=8, n_test=4, resolution=16, solve_resolution=64)\n"
        "    epochs = 1\n    batch_size = 4\n}\n")
    result = runner.invoke(app, ["train", str(spec), "--run-dir", str(tmp_path / "r"),
                                 "--eval-resolution", "32", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "note: `c` has grid-cell stencils (conv, restrict, prolong), which see a smaller "
        "region on a finer grid: it is not discretisation-invariant, so expect a larger error "
        "away from the training grid (docs/OPERATORS.md)\n")


def test_training_through_passes_resumes_and_keeps_the_spec_layout_in_checkpoints(tmp_path):
    spec = write_spec(tmp_path, first="dense(width) >> (dense(width) >> tanh) ^ 3")
    quiet = {"log": lambda s: None, "progress": False}
    job = prepare(spec, passes="O2")
    assert [n.op for n in job.model.graph.nodes()].count("ctl.scan") == 1
    full = fit(job, tmp_path / "full", **quiet)
    plain = fit(prepare(spec), tmp_path / "plain", **quiet)  # same start, same function
    np.testing.assert_allclose([m["train_loss"] for m in full.history],
                               [m["train_loss"] for m in plain.history], rtol=1e-4)

    def interrupt(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(prepare(spec, passes="O2"), tmp_path / "cut", on_epoch=interrupt, **quiet)
    with pytest.raises(InputError) as err:
        fit(prepare(spec), tmp_path / "cut", resume=True, **quiet)
    assert str(err.value) == (f"the run in `{tmp_path / 'cut'}` was made with other settings "
                              "(passes O2 -> none); resume with the same ones, or start a new "
                              "run")
    resumed = fit(prepare(spec, passes="O2"), tmp_path / "cut", resume=True, **quiet)
    assert trajectory(resumed.history) == trajectory(full.history)
    # the checkpoint is in the spec's layout: the unoptimized model reads it as it is
    saved = np.load(tmp_path / "full" / ckpt.CHECKPOINT)
    assert any(k.startswith("params/dense_1/") for k in saved.files)
    assert not any(k.startswith("params/scan/") for k in saved.files)
    run = load_run(tmp_path / "full", spec)
    want = full.trainer.predict(full.params, full.trainer.test_x)
    np.testing.assert_allclose(run.predict(job.data.x_test[0]), want, rtol=1e-5, atol=1e-6)


# -- mistakes a user makes with runs and data files ------------------------------------------
def test_resume_names_what_differs_and_refuses_a_finished_run(tmp_path):
    spec = write_spec(tmp_path)
    quiet = {"log": lambda s: None, "progress": False}
    fit(prepare(spec, epochs=2), tmp_path / "run", **quiet)
    other, copy = tmp_path / "other.npz", tmp_path / "copy.npz"
    with np.load(tmp_path / "data.npz") as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(copy, **arrays)
    np.savez(other, **dict(arrays, y_test=arrays["y_test"] + 1))
    # the same contents under another path is the same data
    assert prepare(spec, epochs=3, data=copy,
                   before_data=lambda meta: check_resumable(tmp_path / "run", meta))
    with pytest.raises(InputError) as err:
        prepare(spec, None, {"width": 4}, epochs=3, seed=5, data=other,
                before_data=lambda meta: check_resumable(tmp_path / "run", meta))
    assert str(err.value) == (
        f"the run in `{tmp_path / 'run'}` was made with other settings (data "
        f"{tmp_path / 'data.npz'} -> {other}; -s width 8 -> 4; seed 0 -> 5); resume with the "
        "same ones, or start a new run")
    with pytest.raises(InputError) as err:
        fit(prepare(spec, epochs=2), tmp_path / "run", resume=True, **quiet)
    assert str(err.value) == (f"the run in `{tmp_path / 'run'}` has already finished 2 "
                              "epoch(s); give --epochs with more than 2 to extend it")


def test_bad_data_files_are_refused_with_the_reason(tmp_path):
    spec = write_spec(tmp_path)
    x = np.zeros((10, 12, 1), np.float32)
    cases = {
        "nan.npz": dict(x=np.full_like(x, np.nan), y=x),
        "count.npz": dict(x=x, y=x[:8]),
        "grid.npz": dict(x=x, y=x[:, :6]),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
    np.save(tmp_path / "x.npy", x)
    messages = {
        "nan.npz": f"`{tmp_path / 'nan.npz'}`: an array of shape (8, 12, 1) holds NaN or "
                   "infinite values",
        "count.npz": f"`{tmp_path / 'count.npz'}`: input 0 has 10 sample(s) (shape "
                     "(10, 12, 1)) but y has 8",
        "grid.npz": "the training target has shape (6, 1) per sample, but the model gives "
                    "(12, 1) for these inputs (N=12)",
        "x.npy": f"`{tmp_path / 'x.npy'}` is a single array (.npy); training needs an .npz "
                 "with x_train, y_train, x_test, y_test (or x, y)",
    }
    for name, message in messages.items():
        with pytest.raises(InputError) as err:
            prepare(spec, data=tmp_path / name)
        assert str(err.value) == message, name


def test_antiderivative_file_from_catspec_data_trains(tmp_path):
    out = tmp_path / "a.npz"
    res = runner.invoke(app, ["data", "antiderivative", "--n", "12", "--sensors", "10",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    spec = tmp_path / "don.cat"
    spec.write_text(
        "model don : (Tensor[10], Tensor[P, 1]) -> Tensor[P] =\n"
        "    (dense(4) @ dense(4)) >> einsum(\"p,qp->q\")\n")
    res = runner.invoke(app, ["train", str(spec), "--data", str(out), "--epochs", "1",
                              "--run-dir", str(tmp_path / "r"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "data: " + str(out) + ": 10 train / 2 test" in res.stdout


def test_cli_refuses_eval_resolution_it_cannot_do_before_training(tmp_path):
    spec = write_spec(tmp_path)
    res = runner.invoke(app, ["train", str(spec), "--eval-resolution", "24", "--no-progress",
                              "--run-dir", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert res.stderr == ("error: --eval-resolution regenerates the test data at another grid, "
                          "so it needs a generator in `train { data = … }`; this run reads "
                          f"`{tmp_path / 'data.npz'}`\n")
    assert not (tmp_path / "r").exists()  # refused before anything ran
    afile = tmp_path / "afile"
    afile.write_text("")
    res = runner.invoke(app, ["train", str(spec), "--run-dir", str(afile), "--no-progress"])
    assert res.exit_code == 2 and res.stderr == f"error: --run-dir `{afile}` is a file, not a " \
                                                "directory\n"
    res = runner.invoke(app, ["train", str(spec), "--run-dir", str(afile / "r"), "--no-progress"])
    assert res.exit_code == 2 and res.stderr == f"error: cannot create --run-dir `{afile / 'r'}`: " \
                                                "Not a directory\n"


@pytest.mark.parametrize("failure", [KeyboardInterrupt, MemoryError])
def test_a_run_that_fails_before_its_first_epoch_leaves_no_directory(tmp_path, monkeypatch,
                                                                    failure):
    spec = write_spec(tmp_path)

    def fail(*args, **kwargs):
        raise failure()

    monkeypatch.setattr(Trainer, "run_epoch", fail)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", str(spec), "--no-progress"])
    assert not list((tmp_path / "runs").iterdir())  # runs/tiny-<time> was removed again
    given = runner.invoke(app, ["train", str(spec), "--no-progress", "--run-dir", "mine"])
    assert not (tmp_path / "mine").exists()
    if failure is KeyboardInterrupt:
        assert res.exit_code == given.exit_code == 130
        assert res.stderr == "interrupted before the first epoch finished; nothing was saved\n"
    else:
        assert res.exit_code == given.exit_code == 3  # out of memory is an input error


def test_new_run_dirs_never_collide(tmp_path):
    a, b = new_run_dir("m", tmp_path), new_run_dir("m", tmp_path)
    assert a != b and a.is_dir() and b.is_dir()


def test_resume_notices_an_edited_model_and_rewritten_data(tmp_path):
    spec = write_spec(tmp_path)
    fit(prepare(spec, epochs=1), tmp_path / "run", log=lambda s: None, progress=False)
    spec.write_text(spec.read_text().replace(">> tanh >>", ">> relu >>"))
    with pytest.raises(InputError) as err:
        prepare(spec, epochs=2, before_data=lambda m: check_resumable(tmp_path / "run", m))
    assert "(the model's layers or wiring (the spec was edited))" in str(err.value)
    spec.write_text(spec.read_text().replace(">> relu >>", ">> tanh >>") + "# a comment\n")
    with np.load(tmp_path / "data.npz") as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(tmp_path / "data.npz", **dict(arrays, y_test=arrays["y_test"] * 2))
    with pytest.raises(InputError) as err:
        prepare(spec, epochs=2, before_data=lambda m: check_resumable(tmp_path / "run", m))
    assert str(err.value) == (f"the run in `{tmp_path / 'run'}` was made with other settings "
                              f"(the contents of data {tmp_path / 'data.npz'}); resume with the "
                              "same ones, or start a new run")


def test_resume_compares_what_the_passes_run_not_their_spelling():
    from catspec.runtime.train import _differences

    base = {"model": "m", "passes": ""}
    assert _differences(base, {**base, "passes": "O0"}) == []
    assert _differences({**base, "passes": "O2"}, {
        **base, "passes": "canonicalize+cse+dce,fold-constants,repeat-to-scan,dce"}) == []
    assert _differences({**base, "passes": "O2"}, base) == ["passes O2 -> none"]


def test_a_missing_data_file_named_in_the_spec_points_at_the_spec(tmp_path):
    spec = write_spec(tmp_path)
    (tmp_path / "data.npz").unlink()
    with pytest.raises(InputError) as err:
        prepare(spec)
    assert str(err.value) == (f"no such data file `{tmp_path / 'data.npz'}` (`data` at "
                              f"{spec}:4:12)")


def test_prepare_refuses_zero_epochs_and_fit_takes_a_string_run_dir(tmp_path):
    spec = write_spec(tmp_path)
    with pytest.raises(InputError) as err:
        prepare(spec, epochs=0)
    assert str(err.value) == "epochs is a positive int, got 0"
    result = fit(prepare(spec, epochs=1), str(tmp_path / "run"), log=lambda s: None,
                 progress=False)
    assert result.run_dir == tmp_path / "run" and (tmp_path / "run" / "checkpoint.npz").exists()
