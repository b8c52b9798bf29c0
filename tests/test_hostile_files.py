r"""Model files from strangers: ``purevae.load`` never allocates more than the file justifies.

Every hostile file is made here, by hand, from a good one. They are loaded in a subprocess whose address space
is limited (``resource.setrlimit(RLIMIT_AS)``) to ``LIMIT``, well below what each file asks for, so a regression
(an allocation the file talked ``load`` into) shows as a MemoryError in the report instead of a swapping
machine. The same subprocess proves the limit bites: it tries to allocate what each file asks for and must get
MemoryError. Every case must end in a ValueError naming the file and the problem.
"""
import io as stdio
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import purevae
from purevae import VAE
from purevae import io as pio
from purevae.model import MAX_LAYERS, MAX_PARAMETERS, MAX_WIDTH

resource = pytest.importorskip("resource")    # POSIX only

LIMIT = 512 * 2**20              # the subprocess's address space: numpy + scipy + purevae need ~210 MB of it
GIB = 2**30

CHILD = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np
import purevae
for line in sys.stdin:
    case = json.loads(line)
    report = {"name": case["name"]}
    if case["asks"]:                      # the limit really is below what the file asks for
        try:
            np.empty(case["asks"], np.uint8)
            report["guard"] = "allocated"
        except MemoryError:
            report["guard"] = "MemoryError"
    try:
        purevae.load(case["path"])
        report["result"] = ["loaded", ""]
    except BaseException as exc:
        report["result"] = [type(exc).__name__, str(exc)]
    print(json.dumps(report), flush=True)
"""


# ------------------------------------------------------------------------------------------------
# building files by hand
# ------------------------------------------------------------------------------------------------
def npy(array: np.ndarray) -> bytes:
    out = stdio.BytesIO()
    np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def npy_header(shape, descr: str) -> bytes:
    """An .npy header that claims ``shape`` and ``descr``, with no data after it."""
    out = stdio.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return out.getvalue()


def meta_bytes(meta: dict) -> bytes:
    return npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def write_zip(path: Path, entries: dict, compression=zipfile.ZIP_STORED) -> Path:
    """entries: name (without .npy) -> bytes, written in order (a name may be given as (name, i) to repeat it)."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries.items():
            z.writestr(f"{name[0] if isinstance(name, tuple) else name}.npy", data)
    return path


def good_entries(path: Path, meta_edit=None) -> tuple[dict, dict]:
    """(entries, meta) of the file purevae wrote at ``path``, its JSON edited by ``meta_edit``."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop("__purevae__").tobytes())
    if meta_edit:
        meta_edit(meta)
    return {"__purevae__": meta_bytes(meta), **{k: npy(v) for k, v in arrays.items()}}, meta


@pytest.fixture(scope="module")
def model():
    m = VAE(6, hidden=(5,), n_latent=2, seed=0)
    m.fit(np.random.default_rng(0).random((8, 6)), epochs=1, batch_size=4)
    return m


def position(model, **changes) -> dict:
    """A position inside an epoch as ``fit`` writes it (8 examples, batch size 4, one step done)."""
    state = model.rng.bit_generator.state
    return {"epoch_rng_state": state, "rng_state": state, "order": np.arange(8), "step": 1, "sums": [0.0] * 6,
            "batch_size": 4, "elapsed": 0.5, **changes}


def entries_of(model, tmp_path, edit=None, checkpoint=False, position=None):
    path = tmp_path / "good.npz"
    if checkpoint:
        pio.save_checkpoint(model, path, position)
    else:
        model.save(path)
    return good_entries(path, edit)


def params_bytes(config: dict) -> int:
    """What an architecture's parameters take, counted here from the layer sizes (not from purevae)."""
    enc = [config["n_input"], *config["hidden"], 2 * config["n_latent"]]
    dec = [config["n_latent"], *config.get("decoder_hidden", config["hidden"][::-1]), config["n_input"]]
    n = sum(a * b + b for sizes in (enc, dec) for a, b in zip(sizes[:-1], sizes[1:]))
    return n * np.dtype(config["dtype"]).itemsize


# ------------------------------------------------------------------------------------------------
# the cases: name -> (build(tmp_path, model) -> (path, bytes the file asks for or 0), expected message)
# ------------------------------------------------------------------------------------------------
def huge_architecture(tmp_path, model):
    big = {"n_input": 2**20, "hidden": [2**20], "n_latent": 2, "dtype": "float32"}
    entries, _ = entries_of(model, tmp_path, lambda m: m["config"].update(big))
    return write_zip(tmp_path / "huge.npz", entries), params_bytes(big)


def large_architecture_tiny_file(tmp_path, model):
    # within the limits (2**28 parameters), but 0.8 GB in float32: the old load built VAE(**config) first
    big = {"n_input": 784, "hidden": [2**17], "n_latent": 20, "dtype": "float32"}
    entries, _ = entries_of(model, tmp_path, lambda m: m["config"].update(big))
    return write_zip(tmp_path / "large.npz", entries), params_bytes(big)


def too_many_layers(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, lambda m: m["config"].update(hidden=[1] * 10**5))
    return write_zip(tmp_path / "layers.npz", entries), 0


def too_wide(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, lambda m: m["config"].update(n_input=2**40))
    return write_zip(tmp_path / "wide.npz", entries), 0


def deflate_bomb(tmp_path, model):
    # the config is a real architecture (float64, 1.6 GB); its first weight is 822 MB of zeros deflated to 0.8 MB
    big = {"n_input": 784, "hidden": [2**17], "n_latent": 20, "dtype": "float64"}
    entries, _ = entries_of(model, tmp_path, lambda m: m["config"].update(big))
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("__purevae__.npy", entries["__purevae__"])
        with z.open("params/encoder.0.weight.npy", "w", force_zip64=True) as f:
            f.write(npy_header((784, 2**17), "<f8"))
            chunk = bytes(2**22)
            for _ in range(784 * 2**17 * 8 // len(chunk)):
                f.write(chunk)
    return path, 784 * 2**17 * 8


def order_header_claims_128_gib(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, checkpoint=True, position=position(model))
    entries["fit/order"] = npy_header((2**34,), "<i8") + bytes(64)
    return write_zip(tmp_path / "order.npz", entries), 2**37


def param_header_claims_more_than_the_entry(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    entries["params/encoder.0.weight"] = entries["params/encoder.0.weight"][:-16]   # the data cut short
    return write_zip(tmp_path / "short.npz", entries), 0


def meta_header_claims_a_terabyte(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    entries["__purevae__"] = npy_header((2**40,), "|u1") + b'{"format": "purevae"}'
    return write_zip(tmp_path / "meta_claims.npz", entries), 2**40


def giant_json(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, lambda m: m.update(padding="x" * (pio.MAX_META_BYTES + 1)))
    return write_zip(tmp_path / "giant_json.npz", entries), 0


def deeply_nested_json(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    entries["__purevae__"] = npy(np.frombuffer(b"[" * 10**6 + b"]" * 10**6, np.uint8))
    return write_zip(tmp_path / "deep.npz", entries), 0


def nested_json_in_the_config(tmp_path, model):
    def edit(meta):
        deep: list = []
        for _ in range(pio.MAX_JSON_DEPTH + 5):
            deep = [deep]
        meta["config"]["vocabulary"] = deep
    entries, _ = entries_of(model, tmp_path, edit)
    return write_zip(tmp_path / "deep_config.npz", entries), 0


def int_of_a_million_digits(tmp_path, model):
    entries, meta = entries_of(model, tmp_path)
    text = json.dumps(meta).replace('"n_input": 6', '"n_input": 1' + "0" * 10**6).encode()
    entries["__purevae__"] = npy(np.frombuffer(text, np.uint8))
    return write_zip(tmp_path / "digits.npz", entries), 0


def too_many_entries(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    entries.update({f"params/x{i}": b"" for i in range(pio.MAX_ENTRIES + 1)})
    return write_zip(tmp_path / "entries.npz", entries), 0


def unexpected_entry(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    entries["../../etc/evil"] = npy(np.zeros(3))
    return write_zip(tmp_path / "unexpected.npz", entries), 0


def missing_entry(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    del entries["params/decoder.out.bias"]
    return write_zip(tmp_path / "missing.npz", entries), 0


def duplicate_entry(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    path = write_zip(tmp_path / "duplicate.npz", entries)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as z:
        z.writestr("params/encoder.0.bias.npy", entries["params/encoder.0.bias"])
    return path, 0


def object_array(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    out = stdio.BytesIO()
    np.lib.format.write_array(out, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    entries["params/decoder.out.bias"] = out.getvalue()
    return write_zip(tmp_path / "object.npz", entries), 0


def fortran_order_weight(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    w = np.asfortranarray(model.params["encoder.0.weight"])
    out = stdio.BytesIO()
    np.lib.format.write_array(out, w, allow_pickle=False)
    entries["params/encoder.0.weight"] = out.getvalue()
    return write_zip(tmp_path / "fortran.npz", entries), 0


def bzip2_entry(tmp_path, model):
    entries, _ = entries_of(model, tmp_path)
    return write_zip(tmp_path / "bzip2.npz", entries, zipfile.ZIP_BZIP2), 0


def optimizer_state_of_another_shape(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, checkpoint=True)
    entries["optimizer/m/encoder.0.weight"] = npy(np.zeros((50, 50), np.float32))
    return write_zip(tmp_path / "optimizer.npz", entries), 0


def optimizer_state_missing(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, checkpoint=True)
    del entries["optimizer/v/decoder.out.weight"]
    return write_zip(tmp_path / "optimizer_missing.npz", entries), 0


def order_of_floats(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, checkpoint=True, position=position(model))
    entries["fit/order"] = npy(np.arange(8.0))
    return write_zip(tmp_path / "order_floats.npz", entries), 0


def position_with_a_bad_generator_state(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, checkpoint=True,
                            position=position(model, rng_state={"bit_generator": "PCG64", "state": "evil"}))
    return write_zip(tmp_path / "position.npz", entries), 0


def position_with_a_negative_step(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, checkpoint=True, position=position(model, step=-5))
    return write_zip(tmp_path / "step.npz", entries), 0


def unknown_optimizer(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, lambda m: m["checkpoint"]["optimizer"].update(optimizer="evil"),
                            checkpoint=True)
    return write_zip(tmp_path / "unknown_optimizer.npz", entries), 0


def training_counter_not_a_number(tmp_path, model):
    entries, _ = entries_of(model, tmp_path, lambda m: m["training"].update(steps_trained="many"))
    return write_zip(tmp_path / "counter.npz", entries), 0


def safetensors_file(model, tmp_path, edit_header=None, data=None, name="st.safetensors"):
    path = tmp_path / "good.safetensors"
    model.save(path)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:] if data is None else data
    if edit_header:
        edit_header(header)
    text = json.dumps(header).encode()
    out = tmp_path / name
    out.write_bytes(len(text).to_bytes(8, "little") + text + body)
    return out


def safetensors_header_claims_a_terabyte(tmp_path, model):
    path = tmp_path / "st_claims.safetensors"
    path.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    return path, 2**40


def safetensors_huge_architecture(tmp_path, model):
    big = {"n_input": 2**20, "hidden": [2**20], "n_latent": 2, "dtype": "float32"}

    def edit(header):
        meta = json.loads(header["__metadata__"]["purevae"])
        meta["config"].update(big)
        header["__metadata__"]["purevae"] = json.dumps(meta)
    return safetensors_file(model, tmp_path, edit, name="st_huge.safetensors"), params_bytes(big)


def safetensors_tensor_claims_more_than_the_file(tmp_path, model):
    def edit(header):
        header["encoder.0.weight"]["shape"] = [2**20, 2**14]
        header["encoder.0.weight"]["data_offsets"][1] = 2**36
    return safetensors_file(model, tmp_path, edit, name="st_tensor.safetensors"), 2**36


def safetensors_shape_of_another_model(tmp_path, model):
    def edit(header):          # a consistent file (offsets, sizes) whose tensor is not the config's shape
        header["encoder.0.bias"]["shape"] = [1, 5]
    return safetensors_file(model, tmp_path, edit, name="st_shape.safetensors"), 0


def safetensors_deep_header(tmp_path, model):
    path = tmp_path / "st_deep.safetensors"
    text = b"[" * 10**6 + b"]" * 10**6
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    return path, 0


CASES = {
    # a config asking for an enormous or malformed architecture: refused before anything is allocated
    "huge architecture": (huge_architecture, r"more than purevae's limit MAX_PARAMETERS"),
    "large architecture, tiny file": (large_architecture_tiny_file, r"does not match its config: entry "
                                                                    r"'params/encoder\.0\.weight' has shape \(6, 5\)"),
    "100000 hidden layers": (too_many_layers, r"more than purevae's limit MAX_LAYERS"),
    "n_input = 2**40": (too_wide, r"larger than purevae's limit MAX_WIDTH"),
    # entries whose sizes lie, or inflate
    "deflate bomb": (deflate_bomb, r"more than MAX_INFLATION = 16 times: a compression bomb"),
    "order header claims 128 GiB": (order_header_claims_128_gib, r"'fit/order' promises 137438953472 bytes of data "
                                                                 r"after its header, the entry holds 64"),
    "data cut short": (param_header_claims_more_than_the_entry, r"'params/encoder\.0\.weight' promises 120 bytes"),
    "JSON header claims 1 TiB": (meta_header_claims_a_terabyte, r"'__purevae__' promises 1099511627776 bytes"),
    # the JSON entry
    "JSON over 16 MiB": (giant_json, r"its __purevae__ entry has \d+ bytes, more than MAX_META_BYTES = 16777216"),
    "JSON nested 10**6 deep": (deeply_nested_json, r"corrupted __purevae__ entry: it nests 1000000 deep"),
    "config nested 37 deep": (nested_json_in_the_config, r"corrupted __purevae__ entry: it nests \d+ deep"),
    "an int of 10**6 digits": (int_of_a_million_digits, r"corrupted __purevae__ entry: not valid JSON"),
    "training counter a string": (training_counter_not_a_number, r"invalid training\.steps_trained: 'many'"),
    # the archive's entries
    "4097+ entries": (too_many_entries, r"entries, more than MAX_ENTRIES = 4096"),
    "unexpected entry": (unexpected_entry, r"unexpected \['\.\./\.\./etc/evil'\]"),
    "missing entry": (missing_entry, r"missing entries \['params/decoder\.out\.bias'\]"),
    "duplicate entry": (duplicate_entry, r"entry 'params/encoder\.0\.bias\.npy' appears twice"),
    "pickled object array": (object_array, r"holds a pickled object array \(entry 'params/decoder\.out\.bias'\)"),
    "bzip2 entry": (bzip2_entry, r"uses compression method 12"),
    # checkpoints
    "optimizer state of another shape": (optimizer_state_of_another_shape,
                                         r"'optimizer/m/encoder\.0\.weight' has shape \(50, 50\), the config "
                                         r"implies \(6, 5\)"),
    "optimizer state missing": (optimizer_state_missing, r"missing entries \['optimizer/v/decoder\.out\.weight'\]"),
    "order of floats": (order_of_floats, r"'fit/order' has dtype float64, expected int64"),
    "unknown optimizer": (unknown_optimizer, r"unknown optimizer"),
    "position with a bad generator state": (position_with_a_bad_generator_state, r"invalid checkpoint section"),
    "position with a negative step": (position_with_a_negative_step, r"invalid checkpoint section: position\.step "
                                                                     r"must be an integer >= 0, got -5"),
    # safetensors
    "safetensors header claims 1 TiB": (safetensors_header_claims_a_terabyte, r"its header claims 1099511627776 "
                                                                              r"bytes"),
    "safetensors huge architecture": (safetensors_huge_architecture, r"more than purevae's limit MAX_PARAMETERS"),
    "safetensors tensor claims 64 GiB": (safetensors_tensor_claims_more_than_the_file, r"outside the data"),
    "safetensors shape of another model": (safetensors_shape_of_another_model,
                                           r"tensor 'encoder\.0\.bias' is float32 \(1, 5\), the config implies "
                                           r"float32 \(5,\)"),
    "safetensors header nested 10**6 deep": (safetensors_deep_header, r"its header nests 1000000 deep"),
}


def run_child(cases: list[dict], limit: int = LIMIT) -> dict[str, dict]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(limit)], input="".join(json.dumps(c) + "\n"
                                                                                  for c in cases),
                          capture_output=True, text=True, timeout=600, env=env, cwd=Path(cases[0]["path"]).parent)
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    return {r["name"]: r for r in reports}


@pytest.fixture(scope="module")
def reports(model, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile")
    cases = []
    for name, (build, _) in CASES.items():
        folder = tmp_path / f"case{len(cases)}"
        folder.mkdir()
        path, asks = build(folder, model)
        cases.append({"name": name, "path": str(path), "asks": asks})
    return run_child(cases)


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_file_is_a_value_error_naming_the_file_without_allocating_what_it_asks(reports, name):
    report = reports[name]
    kind, message = report["result"]
    assert kind == "ValueError", f"{name}: {kind}: {message}"
    assert "'" + os.sep in message and (".npz'" in message or ".safetensors'" in message), message
    assert re.search(CASES[name][1], message), f"{name}: {message}"
    if "guard" in report:      # the file asked for more than the child may allocate: the limit is real
        assert report["guard"] == "MemoryError", f"{name}: the limit does not bite, the test proves nothing"


def test_the_asks_are_beyond_the_limit_and_the_limits_are_what_the_docs_say():
    assert MAX_PARAMETERS == 2**28 and MAX_LAYERS == 64 and MAX_WIDTH == 2**24
    assert params_bytes({"n_input": 784, "hidden": [2**17], "n_latent": 20, "dtype": "float64"}) > 3 * LIMIT
    # the largest architecture that passes the limits fits in the default configuration of a 64-bit machine
    assert MAX_PARAMETERS * 8 <= 2 * GIB


def test_a_good_file_still_loads_under_the_same_limit(model, tmp_path):
    model.save(tmp_path / "good.npz")
    model.save(tmp_path / "good.safetensors")
    pio.save_checkpoint(model, tmp_path / "ckpt.npz", position(model))
    reports = run_child([{"name": p, "path": str(tmp_path / p), "asks": 0}
                         for p in ("good.npz", "good.safetensors", "ckpt.npz")])
    assert all(r["result"] == ["loaded", ""] for r in reports.values()), reports


def test_a_fortran_order_array_is_read_as_the_same_array(model, tmp_path):
    path, _ = fortran_order_weight(tmp_path, model)
    loaded = purevae.load(path)
    for name, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
    assert loaded.params["encoder.0.weight"].flags.c_contiguous


def test_a_deflated_file_of_real_parameters_loads(model, tmp_path):
    """savez_compressed of a model: deflate of random floats stays far under MAX_INFLATION."""
    path = tmp_path / "good.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez_compressed(tmp_path / "compressed.npz", **arrays)
    loaded = purevae.load(tmp_path / "compressed.npz")
    for name, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)


CLI = r"""
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from purevae.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("build", [large_architecture_tiny_file, deeply_nested_json, order_header_claims_128_gib,
                                   safetensors_deep_header])
def test_the_cli_prints_one_line_and_exits_1_whatever_the_file(model, tmp_path, build):
    path, _ = build(tmp_path, model)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CLI, str(LIMIT), "evaluate", str(path), "--data", "bundled"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("purevae evaluate: error: ") and str(path) in lines[0], lines


def test_the_cli_turns_any_unexpected_exception_into_one_line(monkeypatch, capsys):
    from purevae import cli

    def explode(path):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(cli, "load", explode)
    status = cli.main(["evaluate", "whatever.npz"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert "RecursionError: maximum recursion depth exceeded" in err and "Traceback" not in err


@pytest.mark.parametrize("config", [
    {"n_input": 6, "hidden": (5,), "n_latent": 2},
    {"n_input": 7, "hidden": (4, 3), "n_latent": 2, "decoder_hidden": (6,), "likelihood": "gaussian"},
    {"n_input": 5, "hidden": (), "n_latent": 3, "n_classes": 4, "dtype": "float64"},
])
def test_the_shapes_a_config_implies_are_the_shapes_the_model_builds(config):
    shapes, dtype = VAE.param_shapes_of(config)
    model = VAE(**config)
    assert list(shapes.items()) == [(k, v.shape) for k, v in model.params.items()]
    assert dtype == model.dtype
    torch_shapes, _ = VAE.param_shapes_of(config, layout="state_dict")
    assert list(torch_shapes.items()) == [(k, v.shape) for k, v in model.state_dict().items()]
    full = {"hidden": (), "decoder_hidden": None, "dtype": "float32", "n_classes": None, **config}
    counted = params_bytes({**full, "decoder_hidden": full["decoder_hidden"] or full["hidden"][::-1]}
                           ) // np.dtype(full["dtype"]).itemsize
    counted += sum(c * w for c, w in [(full["n_classes"] or 0, (full["hidden"] or (2 * config["n_latent"],))[0]),
                                      (full["n_classes"] or 0, (full["decoder_hidden"] or full["hidden"][::-1]
                                                                or (config["n_input"],))[0])])
    counted += config["n_input"] if config.get("likelihood") == "gaussian" else 0
    assert sum(int(np.prod(s)) for s in shapes.values()) == counted


@pytest.mark.parametrize("kwargs, match", [
    ({"n_input": 2**20, "hidden": (2**10,)}, "more than purevae's limit MAX_PARAMETERS = 268435456"),
    ({"n_input": 4, "hidden": (1,) * (MAX_LAYERS + 1)}, "hidden has 65 layers, more than purevae's limit MAX_LAYERS"),
    ({"n_input": 4, "hidden": (2**25,)}, r"hidden\[0\] = 33554432 is larger than purevae's limit MAX_WIDTH"),
    ({"n_input": 2**25, "hidden": ()}, "n_input = 33554432 is larger than purevae's limit MAX_WIDTH"),
])
def test_the_limits_hold_for_a_model_built_in_code_too(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAE(**kwargs, n_latent=2)
    with pytest.raises(ValueError, match=match):
        VAE.param_shapes_of({**kwargs, "n_latent": 2})


def test_param_shapes_of_refuses_what_is_not_a_config():
    with pytest.raises(TypeError, match="config must be a mapping"):
        VAE.param_shapes_of([6, (5,), 2])
    with pytest.raises(TypeError, match="unexpected keyword"):
        VAE.param_shapes_of({"n_input": 6, "evil": 1})
    with pytest.raises(ValueError, match="layout must be one of"):
        VAE.param_shapes_of({"n_input": 6}, layout="jax")
