"""The command line end to end: every command on a tiny model in a temporary folder, errors, Ctrl-C.

Most tests call ``purevae.cli.main([...])`` in-process (fast); two start ``python -m purevae`` as a
subprocess: one plain run to prove the entry point, one interrupted with SIGINT.
"""
import json
import math
import queue
import re
import signal
import subprocess
import sys
import threading
import types

import numpy as np
import pytest

import purevae
from purevae import backend, cli, data, likelihoods, model, ops, optim
from purevae.data import binarize_static, load_bundled, scale_pixels

TINY = ["--hidden", "16", "--latent", "2", "--n-train", "256", "--n-test", "64", "--batch-size", "64"]
PICTURES = ("samples.png", "reconstructions.png", "traversals.png", "latent.png", "loss_curves.png")


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _grid_size(n, ncols, rows=28, cols=28, pad=2, scale=2):
    nrows = math.ceil(n / ncols)
    return scale * (nrows * rows + (nrows + 1) * pad), scale * (ncols * cols + (ncols + 1) * pad)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 784-16-2 model trained for 2 epochs on 256 bundled images by `purevae train`."""
    out = tmp_path_factory.mktemp("run")
    status = cli.main(["train", *TINY, "--epochs", "2", "--out", str(out), "--quiet"])
    assert status == 0
    return out


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------
def test_train_writes_model_metrics_and_pictures(trained):
    model = purevae.load(trained / "model.npz")
    assert model.epochs_trained == 2
    assert (model.n_input, model.hidden, model.n_latent) == (784, (16,), 2)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    for epoch in metrics["epochs"]:
        assert epoch["train_neg_elbo"] == pytest.approx(epoch["train_recon"] + epoch["train_kl"], rel=1e-12)
        assert epoch["val_neg_elbo"] == pytest.approx(epoch["val_recon"] + epoch["val_kl"], rel=1e-12)
        assert epoch["wall_time"] > 0 and epoch["examples_per_sec"] > 0
    assert metrics["epochs"][1]["train_neg_elbo"] < metrics["epochs"][0]["train_neg_elbo"]   # it learns
    final = metrics["final"]
    assert final["n_test"] == 64 and metrics["data"] == {"name": "fashion-mnist-subset", "n_train": 256,
                                                         "n_test": 64, "validation": "the test set"}
    assert final["test_neg_elbo"] == pytest.approx(final["test_recon"] + final["test_kl"], rel=1e-9)
    assert 0 < final["test_neg_elbo_se"] < final["test_neg_elbo"]
    assert metrics["args"]["data"] == "bundled" and metrics["args"]["epochs"] == 2
    assert metrics["interrupted"] is False
    if _has_matplotlib():
        assert metrics["pictures"] == list(PICTURES)
        assert all((trained / name).stat().st_size > 1000 for name in PICTURES)


def test_train_final_numbers_are_printed_and_match_metrics(tmp_path, capsys):
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path), "--no-plots"]) == 0
    out, err = capsys.readouterr()
    final = json.loads((tmp_path / "metrics.json").read_text())["final"]
    assert f"test negative ELBO: {final['test_neg_elbo']:.3f} +- {final['test_neg_elbo_se']:.3f}" in out
    assert str(tmp_path / "model.npz") in out
    assert "epoch   1/1" in err and "images/s" in err and "left" in err     # the progress line
    assert not list(tmp_path.glob("*.png"))                                  # --no-plots


def test_train_quiet_prints_only_the_final_numbers(tmp_path, capsys):
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path), "--no-plots", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("test negative ELBO:")


def test_train_without_matplotlib_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)    # makes `import matplotlib` raise ImportError
    assert cli.main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    out, _ = capsys.readouterr()
    assert 'pictures skipped' in out and 'pip install "purevae[plot]"' in out
    assert (tmp_path / "model.npz").is_file() and not list(tmp_path.glob("*.png"))


def test_binarized_run_is_evaluated_on_the_fixed_binarized_test_set(tmp_path):
    assert cli.main(["train", *TINY, "--epochs", "1", "--binarize", "static", "--out", str(tmp_path),
                     "--no-plots", "--quiet"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["args"]["binarize"] == "static"
    assert cli.main(["evaluate", str(tmp_path / "model.npz"), "--k", "3", "--n", "20", "--quiet"]) == 0
    result = json.loads((tmp_path / "model_evaluation.json").read_text())
    assert result["binarize"] == "static"                  # taken from metrics.json
    x = binarize_static(scale_pixels(load_bundled().x_test, np.float32), data.TEST_BINARIZE_SEED)[:20]
    assert set(np.unique(x)) == {0.0, 1.0}
    model = purevae.load(tmp_path / "model.npz")
    np.testing.assert_allclose(result["neg_elbo"], -model.elbo(x, rng=np.random.default_rng([0, 20])).mean(),
                               rtol=1e-12)


@pytest.mark.parametrize("binarize", ["dynamic", "static"])
def test_train_is_data_prepare_then_fit(tmp_path, binarize):
    """What `purevae train` trains on and how is purevae.data.prepare + VAE.fit: same parameters, bit for bit."""
    assert cli.main(["train", *TINY, "--epochs", "2", "--binarize", binarize, "--out", str(tmp_path),
                     "--no-plots", "--quiet"]) == 0
    trained = purevae.load(tmp_path / "model.npz")
    prepared = data.prepare("bundled", binarize, n_train=256, n_test=64)
    by_hand = purevae.VAE(n_input=prepared.n_features, hidden=(16,), n_latent=2, seed=0)
    by_hand.fit(prepared.x_train, epochs=2, batch_size=64, lr=1e-3, validation_data=prepared.x_test,
                optimizer="adam", beta=1.0, binarize=prepared.fit_binarize)
    assert sorted(by_hand.params) == sorted(trained.params)
    for name, value in trained.params.items():
        np.testing.assert_array_equal(by_hand.params[name], value, err_msg=name)
    recorded = json.loads((tmp_path / "metrics.json").read_text())["epochs"]
    np.testing.assert_allclose([e["val_neg_elbo"] for e in recorded], by_hand.history["val_loss"], rtol=1e-12)


def test_train_uses_tqdm_when_importable(tmp_path, monkeypatch):
    calls = []

    class FakeTqdm:
        def __init__(self, total, **kwargs):
            calls.append(("init", total))

        def write(self, line, file=None):
            calls.append(("write", line))

        def update(self, n):
            calls.append(("update", n))

        def close(self):
            calls.append(("close", None))

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    assert cli.main(["train", *TINY, "--epochs", "2", "--out", str(tmp_path), "--no-plots"]) == 0
    assert [c[0] for c in calls] == ["init", "write", "update", "write", "update", "close"]
    assert calls[0][1] == 2 and calls[3][1].startswith("epoch   2/2")


def test_ctrl_c_during_training_saves_the_model_in_process(tmp_path, capsys, monkeypatch):
    def interrupt_after_first_epoch(self, record):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli._Progress, "__call__", interrupt_after_first_epoch)
    assert cli.main(["train", *TINY, "--epochs", "5", "--out", str(tmp_path)]) == 130
    _, err = capsys.readouterr()
    assert f"saved the model after 1 complete epoch(s) and 4 steps to {tmp_path / 'model.npz'}" in err
    assert purevae.load(tmp_path / "model.npz").epochs_trained == 1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] is True and len(metrics["epochs"]) == 1


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------
def test_evaluate_reports_elbo_and_iw_bound_with_standard_errors(trained, capsys):
    assert cli.main(["evaluate", str(trained / "model.npz"), "--k", "20", "--n", "30", "--quiet"]) == 0
    out, _ = capsys.readouterr()
    result = json.loads((trained / "model_evaluation.json").read_text())
    assert (result["n"], result["k"], result["data"], result["binarize"]) == (30, 20, "bundled", "none")

    # recompute what the command says it computes, with the same random stream
    model = purevae.load(trained / "model.npz")
    x = scale_pixels(load_bundled().x_test[:30], np.float32)
    rng = np.random.default_rng([0, 20])
    neg_elbo = -model.elbo(x, rng=rng)
    nll = -model.log_likelihood(x, k=20, rng=rng)
    np.testing.assert_allclose(result["neg_elbo"], neg_elbo.mean(), rtol=1e-12)
    np.testing.assert_allclose(result["nll"], nll.mean(), rtol=1e-12)
    np.testing.assert_allclose(result["nll_se"], nll.std(ddof=1) / np.sqrt(30), rtol=1e-12)
    np.testing.assert_allclose(result["neg_elbo_se"], neg_elbo.std(ddof=1) / np.sqrt(30), rtol=1e-12)
    assert f"{result['nll']:.3f} +- {result['nll_se']:.3f}" in out
    assert f"{result['neg_elbo']:.3f} +- {result['neg_elbo_se']:.3f}" in out


def test_evaluate_json_path(trained, tmp_path):
    target = tmp_path / "sub" / "eval.json"
    assert cli.main(["evaluate", str(trained / "model.npz"), "--k", "2", "--n", "1", "--json", str(target),
                     "--quiet"]) == 0
    result = json.loads(target.read_text())
    assert result["n"] == 1 and result["nll_se"] is None        # one image: no standard error
    assert math.isfinite(result["nll"])


def test_evaluate_prints_and_writes_the_latent_report(trained, capsys):
    assert cli.main(["evaluate", str(trained / "model.npz"), "--k", "3", "--n", "40", "--quiet",
                     "--threshold", "0.02"]) == 0
    out, _ = capsys.readouterr()
    report = json.loads((trained / "model_evaluation.json").read_text())["latent_report"]
    # recomputed here from the encoder's output, by the formulas themselves
    mu, logvar = (a.astype(np.float64) for a in purevae.load(trained / "model.npz").encode(
        scale_pixels(load_bundled().x_test[:40], np.float32)))
    kl = np.mean(0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1), axis=0)
    np.testing.assert_allclose(report["kl_per_dimension"], kl, rtol=1e-10)
    np.testing.assert_allclose(report["variances"], mu.var(axis=0), rtol=1e-10)
    assert report["active"] == (mu.var(axis=0) > 0.02).tolist() and report["threshold"] == 0.02
    assert report["n_examples"] == 40 and report["mutual_information_max"] == pytest.approx(np.log(40))
    assert 0 <= report["mutual_information"] <= np.log(40)
    assert (f"{report['active_units']} of 2 units active (Var_x mu_j(x) > 0.02), KL {sum(kl):.2f} nats, "
            f"I(x; z) ~ {report['mutual_information']:.2f} nats") in out
    if _has_matplotlib():
        assert (trained / "latent_health.png").stat().st_size > 1000


def test_evaluate_worst_draws_and_lists_the_lowest_scoring_images(trained, capsys):
    assert cli.main(["evaluate", str(trained / "model.npz"), "--k", "4", "--n", "30", "--worst", "5",
                     "--quiet"]) == 0
    out, _ = capsys.readouterr()
    result = json.loads((trained / "model_evaluation.json").read_text())
    model = purevae.load(trained / "model.npz")
    x = scale_pixels(load_bundled().x_test[:30], np.float32)
    rng = np.random.default_rng([0, 20])                   # the command's stream: the ELBO first, then log p(x)
    model.elbo(x, rng=rng)
    log_px = model.log_likelihood(x, k=4, rng=rng)
    worst = np.argsort(log_px)[:5]
    assert [w["index"] for w in result["worst"]] == worst.tolist()
    np.testing.assert_allclose([w["log_px"] for w in result["worst"]], log_px[worst], rtol=1e-12)
    assert all(a <= b for a, b in zip(log_px[worst], log_px[worst][1:]))
    assert f"{worst[0]}: {log_px[worst[0]]:.1f}" in out
    if _has_matplotlib():
        from matplotlib import image

        from purevae import plots
        drawn = image.imread(trained / "worst.png")[..., 0]
        expected = plots.grid_array(x[worst], (28, 28), ncols=5, scale=2)
        np.testing.assert_allclose(drawn, expected, atol=1 / 255 + 1e-6)    # those images, in that order


def test_continuous_bernoulli_from_the_command_line_says_what_its_nats_are(tmp_path, capsys):
    assert cli.main(["train", *TINY, "--epochs", "1", "--likelihood", "continuous_bernoulli", "--out",
                     str(tmp_path), "--no-plots", "--quiet"]) == 0
    assert "likelihood continuous_bernoulli: a log-density over grey values" in capsys.readouterr().out
    model = purevae.load(tmp_path / "model.npz")
    assert model.likelihood.name == "continuous_bernoulli"
    assert cli.main(["evaluate", str(tmp_path / "model.npz"), "--k", "3", "--n", "20", "--quiet",
                     "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "likelihood continuous_bernoulli" in out
    assert json.loads((tmp_path / "model_evaluation.json").read_text())["likelihood"] == "continuous_bernoulli"


def test_evaluate_one_image_skips_the_latent_report(trained, tmp_path, capsys):
    target = tmp_path / "one.json"
    assert cli.main(["evaluate", str(trained / "model.npz"), "--k", "2", "--n", "1", "--json", str(target),
                     "--quiet"]) == 0
    assert json.loads(target.read_text())["latent_report"] is None
    assert "latent health: needs at least 2 test images" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# pictures on demand
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, name, size", [
    (["sample", "--n", "10", "--ncols", "5"], "samples.png", _grid_size(10, 5)),
    (["reconstruct", "--n", "6", "--ncols", "3"], "reconstructions.png", _grid_size(12, 3)),
    (["traverse", "--dims", "2", "--steps", "4"], "traversals.png", _grid_size(8, 4)),
])
def test_picture_commands_write_grids_of_the_expected_size(trained, tmp_path, argv, name, size, capsys):
    image = pytest.importorskip("matplotlib.image")
    target = tmp_path / name
    assert cli.main([argv[0], str(trained / "model.npz"), *argv[1:], "--out", str(target)]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    pixels = image.imread(target)
    assert pixels.shape[:2] == size
    assert pixels[..., :3].std() > 0.05                      # not blank, not all grey


def test_picture_commands_default_to_next_to_the_model(trained):
    pytest.importorskip("matplotlib")
    target = trained / "samples.png"
    target.unlink(missing_ok=True)
    assert cli.main(["sample", str(trained / "model.npz"), "--n", "4"]) == 0
    assert target.is_file()


def test_picture_command_without_matplotlib_fails_with_install_hint(trained, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["sample", str(trained / "model.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "purevae[plot]"' in err


# ---------------------------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------------------------
def test_gradcheck_prints_the_table(capsys):
    assert cli.main(["gradcheck", "--n-input", "6", "--hidden", "5", "--latent", "2", "--activation", "tanh"]) == 0
    out = capsys.readouterr().out
    for name in purevae.VAE(6, (5,), 2).params:
        assert f"| {name} " in out
    assert "6-5-2 bernoulli tanh float64" in out and ": ok" in out


def test_gradcheck_fails_above_the_tolerance(capsys):
    assert cli.main(["gradcheck", "--likelihood", "gaussian", "--tol", "1e-300"]) == 1
    assert "FAILED" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# errors: one line, no traceback, non-zero status (2 for usage)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, status, words", [
    ([], 2, "required"),
    (["nosuch"], 2, "invalid choice"),
    (["train", "--epochs", "0"], 2, "--epochs"),
    (["train", "--lr", "abc"], 2, "--lr"),
    (["train", "--lr", "nan"], 2, "--lr"),
    (["train", "--bogus"], 2, "--bogus"),
    (["train", "--variance", "1"], 2, "--variance"),
    (["train", "--activation", "swish"], 2, "--activation"),
    (["train", "--data", "no/such/folder"], 1, "no/such/folder"),
    (["evaluate"], 2, "model"),
    (["evaluate", "MODEL", "--k", "0"], 2, "--k"),
    (["evaluate", "missing.npz"], 1, "missing.npz"),
    (["evaluate", "GARBAGE"], 1, "not a readable .npz"),
    (["evaluate", "MODEL", "--threshold", "-1"], 2, "--threshold"),
    (["evaluate", "MODEL", "--worst", "-1"], 2, "--worst"),
    (["evaluate", "MODEL", "--n", "3", "--worst", "5"], 1, "--worst 5 asks for more images than the 3"),
    (["sample", "MODEL", "--image-shape", "3x3"], 1, "3x3"),
    (["sample", "MODEL", "--image-shape", "big"], 2, "ROWSxCOLS"),
    (["traverse", "MODEL", "--index", "100000"], 1, "--index"),
    (["reconstruct", "MODEL", "--data", "GARBAGE"], 1, "GARBAGE"),
    (["gradcheck", "--hidden", "x"], 2, "--hidden"),
])
def test_bad_arguments_give_one_line_and_a_status(trained, tmp_path, capsys, argv, status, words):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file")
    substitute = {"MODEL": str(trained / "model.npz"), "GARBAGE": str(garbage), "missing.npz":
                  str(tmp_path / "missing.npz")}
    argv = [substitute.get(a, a) for a in argv]
    words = substitute.get(words, words)
    assert cli.main(argv) == status
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("purevae") and "error: " in err, err
    assert words in err
    assert "Traceback" not in out + err


def test_data_without_a_test_set_is_one_line_error(tmp_path, capsys, monkeypatch):
    # no file form lacks a test set (.npz and IDX folders require one); a Dataset from arrays can
    train_only = data.from_arrays(np.zeros((8, 4), dtype=np.uint8))
    monkeypatch.setattr(cli, "load_dataset", lambda spec: train_only)
    assert cli.main(["train", "--data", "anything", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no test set" in err
    assert data.prepare(train_only).x_test is None       # the library itself returns None, and the CLI refuses


def test_out_must_be_a_folder(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    assert cli.main(["train", *TINY, "--out", str(path)]) == 1
    assert "not a folder" in capsys.readouterr().err


def _choices_in_help(help_text: str, option: str) -> list[str]:
    """The {a,b,c} that argparse prints after ``option`` in a usage line."""
    found = re.search(re.escape(option) + r" \{([^}]*)\}", help_text)
    assert found, f"{option} with choices not in the help"
    return found.group(1).split(",")


@pytest.mark.parametrize("command, options", [
    ("train", ("--likelihood", "--activation", "--dtype", "--optimizer", "--binarize", "--backend")),
    ("evaluate", ("--binarize", "--backend")),
    ("reconstruct", ("--binarize", "--backend")),
    ("traverse", ("--binarize", "--backend")),
    ("sample", ("--backend",)),
    ("gradcheck", ("--likelihood", "--activation", "--backend")),
])
def test_choice_lists_are_the_library_constants(capsys, command, options):
    library = {"--likelihood": likelihoods.LIKELIHOODS, "--activation": ops.ACTIVATIONS, "--dtype": model.DTYPES,
               "--optimizer": optim.OPTIMIZERS, "--binarize": data.BINARIZE_MODES, "--backend": backend.BACKENDS}
    assert cli.main([command, "--help"]) == 0
    help_text = capsys.readouterr().out
    for option in options:
        offered = _choices_in_help(help_text, option)
        assert len(offered) == len(set(offered)) and set(offered) == set(library[option]), option


def test_help_and_version_return_zero(capsys):
    assert cli.main(["--version"]) == 0
    assert purevae.__version__ in capsys.readouterr().out
    assert cli.main(["train", "--help"]) == 0
    assert "--binarize {none,dynamic,static}" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# the real entry point, as subprocesses
# ---------------------------------------------------------------------------------------------
def test_python_dash_m_purevae_train(tmp_path):
    done = subprocess.run([sys.executable, "-m", "purevae", "train", *TINY, "--epochs", "1", "--out",
                           str(tmp_path), "--no-plots"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test negative ELBO:" in done.stdout and "Traceback" not in done.stderr
    assert purevae.load(tmp_path / "model.npz").epochs_trained == 1


def test_importing_purevae_does_not_import_matplotlib():
    code = ("import sys, purevae, purevae.cli, purevae.plots, purevae.data; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _restore_sigint():   # a shell may start background jobs with SIGINT ignored, and children inherit that
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_saves_the_model(tmp_path):
    argv = [sys.executable, "-m", "purevae", "train", "--hidden", "32", "--latent", "2", "--n-train", "2000",
            "--n-test", "200", "--epochs", "1000", "--out", str(tmp_path)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=_restore_sigint) as proc:
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
        reader.start()
        try:
            while True:   # wait for the first epoch line
                line = lines.get(timeout=120)
                if line.startswith("epoch "):
                    break
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=30)
    stderr = "".join(iter_queue(lines))
    assert status == 130, stderr
    assert "saved the model after" in stderr and str(tmp_path / "model.npz") in stderr
    assert "Traceback" not in stderr
    model = purevae.load(tmp_path / "model.npz")
    assert model.epochs_trained >= 1 and model.n_latent == 2
    assert json.loads((tmp_path / "metrics.json").read_text())["interrupted"] is True
    # the end-of-epoch checkpoint is a consistent, resumable state: optimizer included
    assert str(tmp_path / "checkpoint.npz") in stderr
    resumed = purevae.load(tmp_path / "checkpoint.npz")
    assert (resumed.epochs_trained >= 1 and resumed.optimizer is not None
            and resumed.optimizer.t == resumed.steps_trained)


def iter_queue(q: queue.Queue):
    """The lines left in q (the reader thread has finished)."""
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return
