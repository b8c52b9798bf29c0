r"""Writes that collide, are killed, or meet a full disk, and training that diverges on validation data.

- Two processes saving checkpoints and metrics into the same folder at once: neither fails on the other's
  temporary file, and every file is whole afterwards (one writer's or the other's).
- A process killed with SIGKILL at random moments while it writes a large checkpoint, again and again: the
  file always loads, and is the old checkpoint or the new one.
- ENOSPC and EDQUOT at each write (and at the fsync) of a save: an OSError naming the path, the previous file
  intact, no temporary file left behind.
- A validation loss that becomes inf raises TrainingDiverged, as a training loss does.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import purevae
from purevae import VAE
from purevae import io as pio
from purevae.train import TrainingDiverged


def same_params(a: VAE, b: VAE) -> bool:
    return list(a.params) == list(b.params) and all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


# ------------------------------------------------------------------------------------------------
# two writers, one folder
# ------------------------------------------------------------------------------------------------
WRITER = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from purevae import VAE, io
folder, seed, start, rounds = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
model = VAE(20, hidden=(64,), n_latent=4, seed=seed)
model.fit(np.random.default_rng(seed).random((32, 20)), epochs=1, batch_size=8)
while time.time() < start:                     # both writers start together
    time.sleep(0.001)
for i in range(rounds):
    io.save_checkpoint(model, folder / "checkpoint.npz")
    model.save(folder / "model.npz")
    text = json.dumps({"writer": seed, "round": i}).encode()
    io.write_atomic(folder / "metrics.json", lambda f: f.write(text))
print("done")
"""


def test_two_processes_writing_the_same_folder_never_collide(tmp_path):
    start = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(seed), str(start), "40"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for seed in (1, 2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0 and out.strip() == "done", err
    writers = {seed: VAE(20, hidden=(64,), n_latent=4, seed=seed) for seed in (1, 2)}
    for seed, m in writers.items():
        m.fit(np.random.default_rng(seed).random((32, 20)), epochs=1, batch_size=8)
    for name in ("checkpoint.npz", "model.npz"):
        loaded = purevae.load(tmp_path / name)
        assert any(same_params(loaded, m) for m in writers.values()), name
    assert json.loads((tmp_path / "metrics.json").read_text())["round"] == 39
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz", "metrics.json", "model.npz"]


TINY = ["--hidden", "16", "--latent", "2", "--n-train", "256", "--n-test", "64", "--batch-size", "64",
        "--epochs", "2", "--no-plots"]


def test_two_cli_runs_into_the_same_out_folder_both_succeed(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "purevae", "train", *TINY, "--seed", str(seed), "--out",
                               str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path)
             for seed in (1, 2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    assert purevae.load(tmp_path / "model.npz").epochs_trained == 2
    for name in os.listdir(tmp_path):
        assert not name.endswith(".tmp"), name
        if name.endswith(".json"):
            json.loads((tmp_path / name).read_text())          # whole


# ------------------------------------------------------------------------------------------------
# SIGKILL while writing
# ------------------------------------------------------------------------------------------------
KILLED = r"""
import sys
from purevae import VAE, io
path = sys.argv[1]
model = VAE(784, hidden=(1024, 512), n_latent=32, seed=0)       # 2.5 M parameters: ~30 MB per checkpoint
model.fit(__import__("numpy").random.default_rng(0).random((16, 784)), epochs=1, batch_size=16)
print("ready", flush=True)
while True:                                  # rewrite the checkpoint, each time with new counters
    model.steps_trained += 1
    io.save_checkpoint(model, path)
"""


def test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "checkpoint.npz"
    kills, seen = 0, set()
    for _ in range(12):
        with subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path) as proc:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(float(rng.uniform(0.05, 0.8)))       # several saves in, and usually inside one
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        kills += 1
        if path.exists():
            loaded = purevae.load(path)                      # never half a file
            assert loaded.n_input == 784 and loaded.optimizer is not None
            seen.add(loaded.steps_trained)
        for tmp in tmp_path.glob(".checkpoint.npz.*.tmp"):   # a killed writer's temporary file: never the target
            tmp.unlink()
    assert kills == 12 and len(seen) >= 2, seen               # the file was really rewritten between kills


# ------------------------------------------------------------------------------------------------
# a full disk
# ------------------------------------------------------------------------------------------------
class FailingFile:
    """A file object whose ``fail_at``-th write (or whose fsync, ``fail_at=0``) fails with ``code``."""

    def __init__(self, f, counter: list, fail_at: int, code: int):
        self._f, self._counter, self._fail_at, self._code = f, counter, fail_at, code

    def write(self, data):
        self._counter[0] += 1
        if self._counter[0] == self._fail_at:
            self._f.write(bytes(data)[: len(data) // 2])     # half the bytes reach the disk, then it is full
            raise OSError(self._code, os.strerror(self._code))
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def count_writes(monkeypatch, save) -> int:
    counter = [0]
    real_fdopen = os.fdopen
    monkeypatch.setattr(pio.os, "fdopen", lambda fd, mode: FailingFile(real_fdopen(fd, mode), counter, -1, 0))
    save()
    monkeypatch.undo()
    return counter[0]


SAVES = {
    "model.npz": lambda m, p: m.save(p),
    "model.safetensors": lambda m, p: m.save(p),
    "checkpoint.npz": lambda m, p: pio.save_checkpoint(m, p),
    "metrics.json": lambda m, p: pio.write_atomic(p, lambda f: f.write(json.dumps(m.history).encode())),
}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT], ids=["ENOSPC", "EDQUOT"])
@pytest.mark.parametrize("name", list(SAVES))
def test_a_full_disk_at_any_write_keeps_the_old_file_and_names_the_path(tmp_path, monkeypatch, code, name):
    old = VAE(8, hidden=(6,), n_latent=2, seed=0)
    old.fit(np.random.default_rng(0).random((16, 8)), epochs=1, batch_size=4)
    new = VAE(8, hidden=(6,), n_latent=2, seed=1)
    new.fit(np.random.default_rng(1).random((16, 8)), epochs=2, batch_size=4)
    path = tmp_path / name
    SAVES[name](old, path)
    before = path.read_bytes()
    n_writes = count_writes(monkeypatch, lambda: SAVES[name](new, tmp_path / "probe" / name))
    assert n_writes >= 1
    real_fdopen, real_fsync = os.fdopen, os.fsync
    for fail_at in [*range(1, n_writes + 1), 0]:
        counter = [0]
        monkeypatch.setattr(pio.os, "fdopen", lambda fd, mode, counter=counter, fail_at=fail_at:
                            FailingFile(real_fdopen(fd, mode), counter, fail_at, code))
        if fail_at == 0:                                      # the data written, the fsync fails
            def fsync(fd):
                raise OSError(code, os.strerror(code))
            monkeypatch.setattr(pio.os, "fsync", fsync)
        with pytest.raises(OSError) as info:
            SAVES[name](new, path)
        monkeypatch.setattr(pio.os, "fdopen", real_fdopen)
        monkeypatch.setattr(pio.os, "fsync", real_fsync)
        assert info.value.errno == code
        assert str(path) in str(info.value) and "unchanged" in str(info.value)
        assert path.read_bytes() == before, f"write {fail_at} of {n_writes} damaged the previous file"
        assert sorted(os.listdir(tmp_path)) == sorted([name, "probe"]), os.listdir(tmp_path)
    if name != "metrics.json":
        assert same_params(purevae.load(path), old)
    SAVES[name](new, path)                                    # and with space again, the save goes through
    if name != "metrics.json":
        assert same_params(purevae.load(path), new)


# ------------------------------------------------------------------------------------------------
# validation loss
# ------------------------------------------------------------------------------------------------
def test_an_infinite_validation_loss_raises_training_diverged(tmp_path):
    rng = np.random.default_rng(0)
    model = VAE(5, hidden=(4,), n_latent=2, likelihood="gaussian", variance=1.0, dtype="float64", seed=0)
    x = rng.standard_normal((32, 5))
    x_val = np.full((4, 5), 1e200)                 # finite, but (x - mean)^2 overflows: the loss is inf
    checkpoint = tmp_path / "ckpt.npz"
    model.fit(x, epochs=1, batch_size=8, checkpoint=checkpoint)
    saved = checkpoint.read_bytes()
    with pytest.raises(TrainingDiverged, match=r"the validation loss became inf after epoch 2 .*checkpoint was "
                                               r"not overwritten"):
        model.fit(x, epochs=1, batch_size=8, validation_data=x_val, checkpoint=checkpoint)
    assert model.epochs_trained == 2 and model.history["val_loss"][-1] == np.inf
    assert checkpoint.read_bytes() == saved
    assert all(np.all(np.isfinite(v)) for v in model.params.values())


def test_a_finite_validation_loss_is_recorded_as_before():
    rng = np.random.default_rng(0)
    model = VAE(5, hidden=(4,), n_latent=2, likelihood="gaussian", variance=1.0, dtype="float64", seed=0)
    history = model.fit(rng.standard_normal((32, 5)), epochs=2, batch_size=8,
                        validation_data=rng.standard_normal((8, 5)))
    assert all(np.isfinite(v) for v in history["val_loss"])


def test_the_cli_reports_a_diverged_validation_as_one_line(tmp_path, monkeypatch, capsys):
    from purevae import cli
    from purevae import train as train_module

    def diverging_fit(model, x, **kwargs):
        raise TrainingDiverged("the validation loss became inf after epoch 1")
    monkeypatch.setattr(train_module, "fit", diverging_fit)
    status = cli.main(["train", *TINY, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and err[-1] == "purevae train: error: the validation loss became inf after epoch 1"

