"""The package's metadata and its small promises (issue 13, part 3, the parts built so far)."""
from __future__ import annotations

import importlib.metadata
import json
import threading
from pathlib import Path

import tomllib

import purevae
from purevae import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("purevae") == purevae.__version__


def test_the_licences_exist_and_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    files = [p for pattern in project["license-files"] for p in ROOT.glob(pattern)]
    names = {p.name for p in files}
    assert {"LICENSE", "FASHION_MNIST_LICENSE.txt", "WORDNET_LICENSE.txt"} <= names
    assert "Permission is hereby granted, free of charge" in (ROOT / "LICENSE").read_text()
    assert "Zalando SE" in (ROOT / "purevae" / "datasets" / "FASHION_MNIST_LICENSE.txt").read_text()


def test_json_writes_from_many_threads_never_collide(tmp_path):
    """The CLI's JSON files go through the atomic writer: every writer has its own temporary file."""
    target, errors = tmp_path / "metrics.json", []

    def write(i):
        try:
            for _ in range(20):
                cli._write_json(target, {"writer": i, "payload": list(range(500))})
        except Exception as exc:  # noqa: BLE001 - the test collects any failure
            errors.append(exc)
    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(target.read_text())["payload"] == list(range(500))
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]       # no temporary file left behind
