r"""The command line: ``purevae train | evaluate | sample | reconstruct | traverse | neighbours | gradcheck``.

Installed as the ``purevae`` console script and reachable as ``python -m purevae``. ``main(argv)``
returns the exit status instead of exiting, so tests (and other programs) can call it in-process:

    0    success
    1    an error while running (missing file, bad data, diverged training, failed gradient check)
    2    a usage error (unknown option, bad value)
    130  interrupted with Ctrl-C (``train`` first saves what it has trained)

Every error is one line on stderr, ``purevae <command>: error: ...``, never a traceback.

Files a ``train`` run writes to its output folder (``--out``, default ``runs/latest``):

    model.npz          the trained model (``purevae.load``)
    metrics.json       the arguments, the data, and per epoch: train / validation negative ELBO, its
                       reconstruction and KL terms, examples per second, wall time; then the final test
                       negative ELBO with its standard error
    samples.png, reconstructions.png, traversals.png, latent.png, loss_curves.png
                       when matplotlib is installed (``pip install "purevae[plot]"``)

The validation set is the test set of the data (the convention of the classic VAE examples; nothing
is selected with it: it is only reported). Every command gets its images from ``purevae.data.prepare``
(scaling, ``--n-train``/``--n-test``, ``--binarize`` and its fixed seeds), so that ``prepare`` followed by
``VAE(...).fit(p.x_train, validation_data=p.x_test, binarize=p.fit_binarize)`` in Python trains on
exactly what ``purevae train`` trains on.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from . import backend
from .data import (
    BINARIZE_MODES,
    TEXT_NPZ_KEYS,
    Dataset,
    PreparedData,
    TextCorpus,
    load_dataset,
    load_text_dataset,
    prepare,
)
from .diagnostics import latent_report
from .gradcheck import format_table
from .gradcheck import gradcheck as run_gradcheck
from .io import save as save_model
from .io import write_atomic
from .likelihoods import LIKELIHOODS
from .model import DTYPES, VAE, load
from .objectives import OBJECTIVES, elbo_terms, perplexity
from .ops import ACTIVATIONS
from .optim import OPTIMIZERS
from .parallel import world
from .schedules import SCHEDULES, make_schedule
from .train import TrainingDiverged
from .version import __version__

PROG = "purevae"
# The data policy (scaling, --n-train/--n-test, binarization and its fixed seeds) is purevae.data.prepare's;
# every choice list below is the library's own constant, so the command line offers what the library accepts.
_COMMANDS = ("train", "evaluate", "sample", "reconstruct", "traverse", "neighbours", "gradcheck")


class CommandError(Exception):
    """A problem with the user's request found while running (exit status 1)."""


# ------------------------------------------------------------------------------------------------
# argument parsing: one-line errors, exit status 2
# ------------------------------------------------------------------------------------------------
class _UsageError(Exception):
    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):   # argparse prints usage + error and exits; we want one line and a return code
        raise _UsageError(self.prog, message)


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def _float_in(low: float, low_inclusive: bool = True):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_inclusive):
            raise argparse.ArgumentTypeError(f"expected a finite number {'>=' if low_inclusive else '>'} {low}, "
                                             f"got {text}")
        return value
    parse.__name__ = "number"
    return parse


def _image_shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 28x28, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"expected positive ROWSxCOLS, got {text!r}")
    return rows, cols


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)
positive_float = _float_in(0.0, low_inclusive=False)
nonnegative_float = _float_in(0.0)


def _model_options(hidden: list[int], latent: int) -> _Parser:
    """Architecture options; a fresh parser per command (argparse shares the Action objects of parents,
    so set_defaults on one command would change another's defaults)."""
    model_opts = _Parser(add_help=False)
    model_opts.add_argument("--hidden", type=positive_int, nargs="*", default=hidden, metavar="N",
                            help="hidden layer widths of the encoder (the decoder mirrors them) "
                                 f"(default: {' '.join(map(str, hidden))})")
    model_opts.add_argument("--latent", type=positive_int, default=latent, metavar="N",
                            help=f"dimension of z (default: {latent})")
    model_opts.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli",
                            help="p(x|z): bernoulli (logits; a cross-entropy on grey pixels), continuous_bernoulli "
                                 "(a normalised density on [0, 1], Loaiza-Ganem & Cunningham 2019), gaussian, or "
                                 "multinomial (word counts over a vocabulary, with text --data) (default: bernoulli)")
    model_opts.add_argument("--variance", type=positive_float, default=None,
                            help="gaussian only: fixed pixel variance (default: learned per pixel)")
    model_opts.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                            help="hidden non-linearity (default: relu)")
    model_opts.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    return model_opts


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A Variational Autoencoder written from scratch in NumPy.",
                     epilog="Run `purevae COMMAND --help` for the options of a command.")
    parser.add_argument("--version", action="version", version=f"purevae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    common = _Parser(add_help=False)
    common.add_argument("--backend", choices=backend.BACKENDS, default=None,
                        help=f"kernels to use (default: {backend.get_backend()})")

    data_opts = _Parser(add_help=False)
    data_opts.add_argument("--data", default=None,
                           help="'bundled' (10,000 + 2,000 Fashion-MNIST images shipped with purevae), "
                                "'fashion-mnist' (the full set from the Debian package dataset-fashion-mnist), "
                                "a folder of IDX files or an .npz file; for train also a .npy of images in [0, 1] "
                                "(purevae.data.to_memmap), memory-mapped and read a batch at a time, its last "
                                "--n-test rows held out; text (--likelihood multinomial): 'wordnet' "
                                "(36,000 WordNet glosses shipped with purevae), 'wordnet-full' (the Debian package "
                                "wordnet-base) or an .npz in that format (default for train: bundled; for the "
                                "other commands: the data the model was trained on, from metrics.json)")
    data_opts.add_argument("--binarize", choices=BINARIZE_MODES, default=None,
                           help="none: grey values in [0, 1]; dynamic: a fresh Bernoulli draw of the training "
                                "images every epoch; static: one seeded draw (test images: one seeded draw "
                                "in both binarized cases) (default for train: none; else as trained)")

    # ---- train ----------------------------------------------------------------------------------
    p = sub.add_parser("train", parents=[common, data_opts, _model_options([400], 20)],
                       help="train a model on images or on word counts",
                       description="Train a VAE and write model.npz, metrics.json and pictures to --out.")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="(default: float32)")
    p.add_argument("--conditional", action="store_true",
                   help="a conditional VAE (Sohn et al. 2015): encoder and decoder see each image's class label, "
                        "taken from the data (which must have labels)")
    p.add_argument("--epochs", type=positive_int, default=10, help="(default: 10)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="(default: 128)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate (default: 1e-3)")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam", help="(default: adam)")
    p.add_argument("--beta", type=nonnegative_float, default=1.0, help="weight of the KL term (default: 1)")
    p.add_argument("--objective", choices=OBJECTIVES, default="elbo",
                   help="the training loss: elbo (negative ELBO, closed-form KL) or iwae (negative importance-"
                        "weighted bound, Burda et al. 2016) (default: elbo)")
    p.add_argument("--k", type=positive_int, default=1,
                   help="samples of z per image and step (iwae: the bound's k; elbo: averaged) (default: 1)")
    p.add_argument("--free-bits", type=nonnegative_float, default=0.0, metavar="NATS",
                   help="elbo only: floor every latent dimension's batch-mean KL at NATS (Kingma et al. 2016) "
                        "(default: 0, none)")
    p.add_argument("--kl-schedule", choices=SCHEDULES, default=None,
                   help="KL weight per step, rising to --beta: constant, linear over --kl-warmup-steps, or "
                        "cyclical (Fu et al. 2019) with --kl-cycles and --kl-ratio over the whole run "
                        "(default: --warmup's per-epoch ramp)")
    p.add_argument("--kl-warmup-steps", type=positive_int, default=None, metavar="STEPS",
                   help="linear schedule: steps of the ramp")
    p.add_argument("--kl-cycles", type=positive_int, default=4, metavar="M", help="cyclical: cycles (default: 4)")
    p.add_argument("--kl-ratio", type=positive_float, default=0.5, metavar="R",
                   help="cyclical: fraction of each cycle spent rising, in (0, 1] (default: 0.5)")
    p.add_argument("--warmup", type=nonnegative_int, default=0, metavar="EPOCHS",
                   help="linear KL warm-up over this many epochs (default: 0, none)")
    p.add_argument("--n-train", type=positive_int, default=None, metavar="N",
                   help="train on the first N training images only (default: all)")
    p.add_argument("--n-test", type=positive_int, default=None, metavar="N",
                   help="validate and test on the first N test images only (default: all)")
    p.add_argument("--out", default="runs/latest", help="output folder (default: runs/latest)")
    p.add_argument("--mpi", action="store_true",
                   help="train data-parallel over the ranks started by mpiexec (`mpiexec -n 4 purevae train "
                        "--mpi ...`; needs the [mpi] extra): --batch-size is the global batch, only rank 0 "
                        "prints and writes")
    p.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="STEPS",
                   help="also write OUT/checkpoint.npz every STEPS steps (default: at the end of each epoch only)")
    p.add_argument("--no-plots", action="store_true", help="do not write pictures")
    p.add_argument("--quiet", action="store_true", help="print only the final numbers")
    p.set_defaults(run=cmd_train)

    # ---- evaluate -------------------------------------------------------------------------------
    p = sub.add_parser("evaluate", parents=[common, data_opts], help="test-set ELBO and log-likelihood of a model",
                       description="Test-set negative ELBO and importance-weighted estimate of -log p(x), "
                                   "each with its standard error (std / sqrt(n) over images), in nats per image.")
    p.add_argument("model", help="a model file written by `purevae train` (model.npz)")
    p.add_argument("--k", type=positive_int, default=5000, help="importance samples per image (default: 5000)")
    p.add_argument("--n", type=positive_int, default=None, help="use the first N test images (default: all)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the importance samples (default: 0)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="write the numbers and the latent report here (default: <model>_evaluation.json next "
                        "to the model)")
    p.add_argument("--threshold", type=nonnegative_float, default=0.01,
                   help="a latent dimension is active when Var_x(mu_j(x)) exceeds this (default: 0.01, "
                        "Burda et al. 2016)")
    p.add_argument("--worst", type=nonnegative_int, default=0, metavar="N",
                   help="also draw the N test images of lowest estimated log p(x) into worst.png next to "
                        "the model, and list them (default: 0, none)")
    p.add_argument("--image-shape", type=_image_shape, default=None,
                   help="ROWSxCOLS of an image for --worst (default: from the data or metrics.json, else square)")
    p.add_argument("--no-plots", action="store_true", help="do not draw latent_health.png (nor --worst's picture)")
    p.add_argument("--quiet", action="store_true", help="print only the final numbers")
    p.set_defaults(run=cmd_evaluate)

    # ---- pictures -------------------------------------------------------------------------------
    shape_help = "ROWSxCOLS of an image (default: from the data or metrics.json, else square)"
    p = sub.add_parser("sample", parents=[common], help="a grid of images sampled from the prior",
                       description="Decode z ~ N(0, I) and write the means of p(x|z) as a PNG grid.")
    p.add_argument("model")
    p.add_argument("--n", type=positive_int, default=64,
                   help="number of images (default: 64); a conditional model draws one row per class of --ncols "
                        "images instead, the same latent codes in every row")
    p.add_argument("--ncols", type=positive_int, default=8, help="images per row (default: 8)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="(default: 0)")
    p.add_argument("--image-shape", type=_image_shape, default=None, help=shape_help)
    p.add_argument("--out", default=None, help="PNG path (default: samples.png next to the model)")
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser("reconstruct", parents=[common, data_opts], help="test images above their reconstructions",
                       description="Write test images, each above its reconstruction decode(mu(x)), as a PNG.")
    p.add_argument("model")
    p.add_argument("--n", type=positive_int, default=32, help="number of test images (default: 32)")
    p.add_argument("--ncols", type=positive_int, default=8, help="images per row (default: 8)")
    p.add_argument("--image-shape", type=_image_shape, default=None, help=shape_help)
    p.add_argument("--out", default=None, help="PNG path (default: reconstructions.png next to the model)")
    p.set_defaults(run=cmd_reconstruct)

    p = sub.add_parser("traverse", parents=[common, data_opts], help="latent traversals",
                       description="One row per latent dimension (those with the largest average KL on the test "
                                   "set): the dimension goes from -LIMIT to +LIMIT, the others stay at the "
                                   "encoding of one test image.")
    p.add_argument("model")
    p.add_argument("--dims", type=positive_int, default=8, help="number of dimensions shown (default: 8)")
    p.add_argument("--steps", type=positive_int, default=9, help="values per dimension (default: 9)")
    p.add_argument("--limit", type=positive_float, default=3.0, help="(default: 3)")
    p.add_argument("--index", type=nonnegative_int, default=0, help="test image whose encoding is kept (default: 0)")
    p.add_argument("--image-shape", type=_image_shape, default=None, help=shape_help)
    p.add_argument("--out", default=None, help="PNG path (default: traversals.png next to the model)")
    p.set_defaults(run=cmd_traverse)

    # ---- neighbours -----------------------------------------------------------------------------
    p = sub.add_parser("neighbours", parents=[common],
                       help="the glosses nearest to a text in latent space (a bag-of-words model)",
                       description="Encode TEXT with a model trained on word counts (purevae train --data wordnet "
                                   "--likelihood multinomial) and print the documents of its corpus whose latent "
                                   "means are nearest by cosine similarity.")
    p.add_argument("model")
    p.add_argument("text", help="the query, e.g. \"a domesticated carnivorous mammal\"")
    p.add_argument("--n", type=positive_int, default=10, help="how many neighbours (default: 10)")
    p.add_argument("--data", default=None,
                   help="the corpus searched (default: the one the model was trained on, from metrics.json)")
    p.set_defaults(run=cmd_neighbours)

    # ---- gradcheck ------------------------------------------------------------------------------
    p = sub.add_parser("gradcheck", parents=[common, _model_options([8], 3)], help="check the hand-written gradients",
                       description="Compare loss_and_grads with central differences on a small float64 model "
                                   "of the requested architecture and random data; print the table.")
    p.add_argument("--n-input", type=positive_int, default=12, help="features per example (default: 12)")
    p.add_argument("--batch", type=positive_int, default=4, help="examples in the batch (default: 4)")
    p.add_argument("--beta", type=nonnegative_float, default=1.0, help="(default: 1)")
    p.add_argument("--objective", choices=OBJECTIVES, default="elbo", help="the loss checked (default: elbo)")
    p.add_argument("--k", type=positive_int, default=None, help="samples of z per example (default: 1)")
    p.add_argument("--free-bits", type=nonnegative_float, default=0.0, metavar="NATS",
                   help="elbo only: the free-bits floor of the loss checked (default: 0)")
    p.add_argument("--n-classes", type=positive_int, default=None, metavar="C",
                   help="check a conditional model with C classes (random labels) (default: unconditional)")
    p.add_argument("--max-entries", type=positive_int, default=200, help="entries checked per parameter")
    p.add_argument("--tol", type=positive_float, default=1e-6, help="largest accepted relative error (default: 1e-6)")
    p.set_defaults(run=cmd_gradcheck)
    return parser


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _say(args, *parts, end="\n") -> None:
    if not getattr(args, "quiet", False):
        print(*parts, end=end, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _mean_se(values: np.ndarray) -> tuple[float, float | None]:
    """Mean and standard error std / sqrt(n) (sample std, n - 1); None for one value."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float(values.mean()), None
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def _pm(mean: float, se: float | None) -> str:
    return f"{mean:.3f}" if se is None else f"{mean:.3f} +- {se:.3f}"


def _write_json(path: Path, obj: dict) -> Path:
    """Write ``obj`` as JSON through the model files' atomic writer: a temporary file of its own (two runs writing
    one folder never share one), fsync, rename."""
    text = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8")
    return write_atomic(Path(path), lambda f: f.write(text))


def _describe(model: VAE) -> str:
    c = model.config()
    arch = "-".join(str(n) for n in [c["n_input"], *c["hidden"], c["n_latent"]])
    cond = "" if model.n_classes is None else f", conditional on {model.n_classes} classes"
    return f"{arch} {c['likelihood']} {c['activation']} {c['dtype']}{cond}"


def _class_names(data_name: str | None, n_classes: int | None) -> tuple[str, ...] | None:
    """Fashion-MNIST's class names for its 10 labels, else None (the pictures then say "class c")."""
    from .plots import FASHION_MNIST_CLASSES
    if data_name and data_name.startswith("fashion-mnist") and n_classes == len(FASHION_MNIST_CLASSES):
        return FASHION_MNIST_CLASSES
    return None


def _labels(y, split: str, spec: str) -> np.ndarray:
    """The labels of a split for --conditional / a conditional model: integers >= 0, or CommandError."""
    if y is None:
        raise CommandError(f"a conditional model needs class labels, but the data {spec!r} has no {split} labels "
                           f"(give y_{split} in the .npz, or train without --conditional)")
    if y.dtype.kind not in "iu":
        raise CommandError(f"the {split} labels of the data {spec!r} must be integers, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise CommandError(f"the {split} labels of the data {spec!r} must be >= 0, got {int(y.min())}")
    return y


def _test_labels(model: VAE, y_test, spec: str):
    """The test labels a conditional model needs (None for an unconditional one), checked against n_classes."""
    if not model.conditional:
        return None
    assert model.n_classes is not None   # conditional
    y_test = _labels(y_test, "test", spec)
    if len(y_test) and y_test.max() >= model.n_classes:
        raise CommandError(f"the data {spec!r} has test label {int(y_test.max())} but the model knows "
                           f"{model.n_classes} classes (0..{model.n_classes - 1})")
    return y_test


def _load_data(spec: str) -> Dataset:
    data = load_dataset(spec)
    if data.x_test is None:
        raise CommandError(f"the data {spec!r} has no test set; give x_test in the .npz")
    return data


def _run_info(model_path: Path) -> dict:
    """The metrics.json of the run that wrote model_path, if it sits next to it ({} otherwise)."""
    metrics = model_path.parent / "metrics.json"
    if not metrics.is_file():
        return {}
    try:
        info = json.loads(metrics.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _data_for_model(args, model_path: Path, model: VAE | None = None) -> tuple[str, str, dict]:
    """--data and --binarize, defaulting to those the model was trained with (recorded in the metrics.json next to
    it), else to the bundled data of its kind: the WordNet glosses for a bag-of-words model, else the images."""
    info = _run_info(model_path)
    trained = info.get("args", {}) if isinstance(info.get("args"), dict) else {}
    text_model = model is not None and model.likelihood.name == "multinomial"
    data = args.data or trained.get("data") or ("wordnet" if text_model else "bundled")
    binarize = args.binarize or trained.get("binarize") or "none"
    return data, binarize, info


def _image_shape_for(args, model: VAE, data: Dataset | None = None, info: dict | None = None) -> tuple[int, int]:
    if getattr(args, "image_shape", None):
        shape = args.image_shape
    elif data is not None and data.image_shape is not None:
        shape = data.image_shape
    elif info and isinstance(info.get("image_shape"), list) and len(info["image_shape"]) == 2:
        shape = tuple(int(s) for s in info["image_shape"])
    else:
        side = math.isqrt(model.n_input)
        if side * side != model.n_input:
            raise CommandError(f"cannot tell the image shape of {model.n_input} features; pass --image-shape "
                               f"ROWSxCOLS")
        shape = (side, side)
    if shape[0] * shape[1] != model.n_input:
        raise CommandError(f"image shape {shape[0]}x{shape[1]} has {shape[0] * shape[1]} pixels but the model "
                           f"has {model.n_input} inputs")
    return shape


def _load_model(path: str) -> tuple[VAE, Path]:
    model_path = Path(path)
    return load(model_path), model_path


def _plots():
    """purevae.plots, or CommandError with the install command when matplotlib is missing."""
    from . import plots
    if not plots.matplotlib_available():
        raise CommandError(f"pictures need matplotlib, which is not installed: {plots.PLOT_INSTALL}")
    return plots


# ------------------------------------------------------------------------------------------------
# train
# ------------------------------------------------------------------------------------------------
class _Progress:
    """One line per epoch on stderr (or a tqdm bar when tqdm is importable): losses, speed, time left."""

    def __init__(self, args, epochs: int, first_epoch: int = 0):
        self.args, self.epochs, self.first_epoch, self.start = args, epochs, first_epoch, time.perf_counter()
        self.bar = None
        if not args.quiet:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                # disable=None: no bar (and no carriage returns) when stderr is not a terminal, e.g. a log file
                self.bar = tqdm(total=epochs, unit="epoch", file=sys.stderr, dynamic_ncols=True, disable=None)

    def __call__(self, record: dict) -> None:
        if self.args.quiet:
            return
        done = record["epoch"] - self.first_epoch
        elapsed = time.perf_counter() - self.start
        left = elapsed / done * (self.epochs - done)
        val = "" if record["val_loss"] is None else f"  val {record['val_loss']:.2f}"
        label = "-ELBO" if getattr(self.args, "objective", "elbo") == "elbo" else f"-IWAE(k={self.args.k})"
        line = (f"epoch {record['epoch']:>3d}/{self.first_epoch + self.epochs}  train {label} {record['loss']:.2f} "
                f"(recon {record['recon']:.2f} + KL {record['kl']:.2f}){val}  {record['examples_per_sec']:.0f} "
                f"images/s  {_duration(elapsed)} elapsed, {_duration(left)} left")
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
            self.bar.update(1)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _epoch_records(history: dict) -> list[dict]:
    keys = {"epoch": "epoch", "beta": "beta", "train_neg_elbo": "loss", "train_recon": "recon", "train_kl": "kl",
            "val_neg_elbo": "val_loss", "val_recon": "val_recon", "val_kl": "val_kl",
            "examples_per_sec": "examples_per_sec", "wall_time": "time"}
    n = len(history.get("epoch", []))
    return [{name: history[key][i] for name, key in keys.items()} for i in range(n)]


def _kl_schedule(args, steps_per_epoch: int):
    """The fit(beta_schedule=) of --kl-schedule (None without it: fit's own --beta / --warmup ramp)."""
    if args.kl_schedule is None:
        return None
    if args.warmup:
        raise _UsageError(f"{PROG} train", "--kl-schedule replaces --warmup: give one of them")
    if args.kl_schedule == "linear":
        if args.kl_warmup_steps is None:
            raise _UsageError(f"{PROG} train", "--kl-schedule linear needs --kl-warmup-steps")
        return make_schedule("linear", beta=args.beta, warmup_steps=args.kl_warmup_steps)
    if args.kl_schedule == "cyclical":
        if args.kl_ratio > 1:
            raise _UsageError(f"{PROG} train", f"--kl-ratio must be in (0, 1], got {args.kl_ratio:g}")
        return make_schedule("cyclical", beta=args.beta, n_cycles=args.kl_cycles, ratio=args.kl_ratio,
                             total_steps=args.epochs * steps_per_epoch)
    return make_schedule("constant", beta=args.beta)


TEXT_DATA = ("wordnet", "wordnet-full")   # --data names of text corpora (purevae.data.load_text_dataset)


def _is_text(spec: str) -> bool:
    """A text corpus: its name, or an .npz in the text format (its keys are those of ``data.TEXT_NPZ_KEYS``)."""
    if spec in TEXT_DATA:
        return True
    path = Path(spec)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as f:
            return set(TEXT_NPZ_KEYS) <= set(f.files)
    except (OSError, ValueError):
        return False                                   # not readable: the image loader says why


def _text_split(corpus, split: str, n: int | None, dtype):
    """(counts CSR, labels, texts) of the first n documents of a corpus split, counts in the model's dtype."""
    x, y, texts = (getattr(corpus, f"{field}_{split}") for field in ("x", "y", "texts"))
    n = x.shape[0] if n is None else min(n, x.shape[0])
    return x[:n].astype(dtype), y[:n], texts[:n]


def _memmap_data(spec: str, binarize: str, dtype: str, n_train: int | None, n_test: int | None) -> PreparedData:
    """``--data FILE.npy``: images in [0, 1], one per row (``purevae.data.to_memmap``), memory-mapped, never
    copied whole. The last ``--n-test`` rows (default: a sixth, at most 10,000) validate and test (those are
    read into memory); the rows before them train, read a batch at a time."""
    path = Path(spec)
    if not path.is_file():
        raise CommandError(f"--data {spec!r}: no such file")
    if binarize != "none":
        raise CommandError("--binarize draws from images in memory; a .npy file is trained on as it is (write "
                           "binarized images with purevae.data.to_memmap of binarized data instead)")
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CommandError(f"--data {spec!r} is not a readable .npy file: {exc}") from None
    if x.ndim != 2 or x.dtype.kind != "f" or x.shape[0] < 2:
        raise CommandError(f"--data {spec!r} must hold floating-point images in [0, 1], one per row (2-D, at "
                           f"least 2 rows), got {x.dtype} of shape {x.shape}")
    n = x.shape[0]
    held_out = min(10_000, max(1, n // 6)) if n_test is None else n_test
    if held_out >= n:
        raise CommandError(f"--n-test {held_out} leaves no training rows in {spec!r} ({n} rows)")
    train = x[:n - held_out] if n_train is None else x[:min(n_train, n - held_out)]
    side = math.isqrt(x.shape[1])
    return PreparedData(x_train=train, y_train=None, x_test=np.array(x[n - held_out:], dtype=dtype), y_test=None,
                        name=path.name, image_shape=(side, side) if side * side == x.shape[1] else None,
                        binarize="none", dtype=np.dtype(dtype), n_features=x.shape[1])


def cmd_train(args) -> int:
    if args.likelihood != "gaussian" and args.variance is not None:
        raise _UsageError(f"{PROG} train", "--variance applies to --likelihood gaussian only")
    if args.free_bits and args.objective != "elbo":
        raise _UsageError(f"{PROG} train", "--free-bits applies to --objective elbo only")
    data_spec, binarize = args.data or "bundled", args.binarize or "none"
    text = _is_text(data_spec)
    if text and args.likelihood != "multinomial":
        raise _UsageError(f"{PROG} train", f"--data {data_spec} holds word counts: train it with --likelihood "
                                           f"multinomial")
    if not text and args.likelihood == "multinomial":
        raise _UsageError(f"{PROG} train", f"--likelihood multinomial models word counts: use --data "
                                           f"{' or '.join(TEXT_DATA)}")
    if text and binarize != "none":
        raise _UsageError(f"{PROG} train", "--binarize applies to images, not to word counts")
    if text and args.conditional:
        raise _UsageError(f"{PROG} train", "--conditional applies to images (sample draws one row per class); "
                                           "condition a text model in Python with VAE(n_classes=...) and fit(y=...)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {str(out)!r} exists and is not a folder")
    comm = world() if args.mpi else None
    root = comm is None or comm.Get_rank() == 0          # only rank 0 prints, writes files and draws pictures
    if not root:
        args.quiet = True
    corpus = prepared = None
    data: Dataset | TextCorpus | PreparedData
    if text:
        corpus = data = load_text_dataset(data_spec)
        x_train, y_train_all, _ = _text_split(corpus, "train", args.n_train, args.dtype)
        x_test, y_test, _ = _text_split(corpus, "test", args.n_test, args.dtype)
        if x_test.shape[0] == 0:
            raise CommandError(f"the corpus {data_spec!r} has no held-out documents to validate on")
        unit, vocabulary, fit_binarize, image_shape = "document", corpus.vocabulary, False, None
    elif data_spec.endswith(".npy"):       # a memory-mapped file (data.to_memmap): read a batch at a time
        data = prepared = _memmap_data(data_spec, binarize, args.dtype, args.n_train, args.n_test)
        x_train, x_test, y_test, y_train_all = prepared.x_train, prepared.x_test, None, None
        unit, vocabulary, fit_binarize = "image", None, False
        image_shape = list(prepared.image_shape) if prepared.image_shape else None
    else:
        data = _load_data(data_spec)
        prepared = prepare(data, binarize, dtype=args.dtype, n_train=args.n_train, n_test=args.n_test)
        x_train, x_test, y_test, y_train_all = prepared.x_train, prepared.x_test, prepared.y_test, prepared.y_train
        unit, vocabulary, fit_binarize = "image", None, prepared.fit_binarize
        image_shape = list(data.image_shape) if data.image_shape else None
    n_train, n_test = x_train.shape[0], x_test.shape[0]
    y_train = n_classes = None
    if args.conditional:   # the classes are those the data holds: 0 .. the largest label of either split
        y_train, y_test = _labels(y_train_all, "train", data_spec), _labels(y_test, "test", data_spec)
        n_classes = int(max(y_train.max(), y_test.max())) + 1
        if n_classes > max(2, n_train):
            raise CommandError(f"the labels of the data {data_spec!r} go up to {n_classes - 1}, more classes than "
                               f"the {n_train} training examples: they must be classes numbered 0..C-1")
    model = VAE(n_input=x_train.shape[1], hidden=tuple(args.hidden), n_latent=args.latent,
                likelihood=args.likelihood, variance=args.variance, activation=args.activation, dtype=args.dtype,
                seed=args.seed, n_classes=n_classes, vocabulary=vocabulary)
    batch_size = min(args.batch_size, n_train)
    schedule = _kl_schedule(args, -(-n_train // batch_size))
    config = {key: value for key, value in vars(args).items() if key not in ("run", "command")}
    config.update(data=data_spec, binarize=binarize, backend=backend.get_backend(), batch_size=batch_size)
    _say(args, f"training {_describe(model)} on {data.name} ({n_train} train, {n_test} test {unit}s"
               f"{', binarized ' + binarize if binarize != 'none' else ''}): {args.epochs} epochs, batch {batch_size}, "
               f"{args.optimizer} lr {args.lr:g}, beta {args.beta:g}{f', warm-up {args.warmup}' if args.warmup else ''}"
               f"{f', objective {args.objective} k={args.k}' if args.objective != 'elbo' or args.k != 1 else ''}"
               f"{f', KL schedule {args.kl_schedule}' if args.kl_schedule else ''}"
               f"{f', free bits {args.free_bits:g}' if args.free_bits else ''}"
               f", backend {backend.get_backend()}"
               f"{f', data-parallel over {comm.Get_size()} MPI ranks' if comm is not None else ''} -> {out}/")
    progress = _Progress(args, args.epochs)
    interrupted = False
    try:
        model.fit(x_train, y=y_train, epochs=args.epochs, batch_size=batch_size, lr=args.lr,
                  validation_data=x_test if y_train is None else (x_test, y_test), optimizer=args.optimizer,
                  beta=1.0 if schedule else args.beta, warmup_epochs=args.warmup,
                  objective=args.objective, k=args.k, free_bits=args.free_bits, beta_schedule=schedule,
                  binarize=fit_binarize, callback=progress, checkpoint=out / "checkpoint.npz",
                  checkpoint_every=args.checkpoint_every, comm=comm)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        progress.close()

    metrics: dict[str, Any]   # a JSON object, filled in below
    metrics = {"purevae_version": __version__, "command": "train", "args": config, "model": model.config(),
               "data": {"name": data.name, "n_train": n_train, "n_test": n_test,
                        "validation": "the test set" if not text else "the held-out documents"},
               "image_shape": image_shape,
               "units": f"nats per {unit}; negative ELBO = recon + KL",
               "epochs_completed": model.epochs_trained, "steps": model.steps_trained,
               "interrupted": interrupted, "epochs": _epoch_records(model.history)}
    if interrupted and comm is not None:
        raise CommandError("interrupted: under mpiexec an interrupted run saves nothing beyond its last checkpoint "
                           f"({out / 'checkpoint.npz'})")
    if not root:           # the other ranks take part in the test set's evaluation, then stop
        elbo_terms(model, x_test, rng=np.random.default_rng([args.seed, 10]),
                   y=None if y_train is None else y_test, comm=comm)
        return 0
    model_path = save_model(model, out / "model.npz")
    if interrupted:
        _write_json(out / "metrics.json", metrics)
        print(f"interrupted: saved the model after {model.epochs_trained} complete epoch(s) and {model.steps_trained}"
              f" steps to {model_path} (metrics in {out / 'metrics.json'})", file=sys.stderr, flush=True)
        if (out / "checkpoint.npz").is_file():
            print(f"the last consistent checkpoint (optimizer state included, resumable with purevae.load + fit) is "
                  f"{out / 'checkpoint.npz'}", file=sys.stderr, flush=True)
        return 130

    start = time.perf_counter()
    rng = np.random.default_rng([args.seed, 10])
    log_px_z, kl = elbo_terms(model, x_test, rng=rng, y=None if y_train is None else y_test, comm=comm)
    neg_elbo, se = _mean_se(kl - log_px_z)
    final = {"test_neg_elbo": neg_elbo, "test_neg_elbo_se": se, "test_recon": float(-log_px_z.mean()),
             "test_kl": float(kl.mean()), "n_test": n_test,
             "train_neg_elbo": model.history["loss"][-1], "train_seconds": model.history["time"][-1]}
    if text:     # the ELBO's per-word perplexity: an upper bound on the model's
        final["test_perplexity_elbo"] = perplexity(log_px_z - kl, np.asarray(x_test.sum(axis=1)).ravel())
    metrics["final"] = final

    pictures, skipped = [], None
    if not args.no_plots:
        try:
            if text:
                pictures = _text_pictures(model, corpus, x_test, y_test, out)
            else:
                assert prepared is not None   # prepared above for images
                pictures = _train_pictures(model, x_test, y_test, prepared, out)
        except ImportError as exc:
            skipped = str(exc)
    metrics["pictures"] = [p.name for p in pictures]
    metrics_path = _write_json(out / "metrics.json", metrics)

    bound = "" if y_train is None else " (of -log p(x|y), the label given)"
    if text:
        print(f"test per-word perplexity (the ELBO's bound): {final['test_perplexity_elbo']:.1f}")
    print(f"test negative ELBO{bound}: {_pm(neg_elbo, se)} nats per {unit} (recon {final['test_recon']:.3f} + KL "
          f"{final['test_kl']:.3f}), {n_test} test {unit}s; train {final['train_neg_elbo']:.3f}; "
          f"{model.epochs_trained} epoch{'s' if model.epochs_trained != 1 else ''} in "
          f"{_duration(final['train_seconds'])}")
    print(f"(likelihood {model.likelihood.name}: {LIKELIHOOD_MEANING[model.likelihood.name]})")
    print(f"wrote {model_path}, {metrics_path}")
    if pictures:
        print(f"pictures: {', '.join(str(p) for p in pictures)}")
    elif skipped:
        print(f"pictures skipped: {skipped}")
    _say(args, f"({_duration(time.perf_counter() - start)} for the final evaluation and pictures; "
               f"`purevae evaluate {model_path}` adds the importance-weighted log-likelihood)")
    return 0


def _train_pictures(model: VAE, x_test, y_test, prepared: PreparedData, out: Path) -> list[Path]:
    from . import plots
    if not plots.matplotlib_available():
        raise ImportError(f"matplotlib is not installed ({plots.PLOT_INSTALL})")
    written = []
    shape = prepared.image_shape
    if shape is None:
        side = math.isqrt(model.n_input)
        shape = (side, side) if side * side == model.n_input else None
    y = None if not model.conditional else y_test      # a conditional model encodes and decodes with the labels
    if shape is not None:
        if model.conditional:
            written.append(plots.save_class_samples(model, shape, out / "samples.png",
                                                    class_names=_class_names(prepared.name, model.n_classes)))
        else:
            written.append(plots.save_samples(model.sample(64), shape, out / "samples.png"))
        originals = x_test[:32]
        written.append(plots.save_reconstructions(originals, model.reconstruct(originals, None if y is None
                                                                               else y[:32]), shape,
                                                  out / "reconstructions.png"))
        written.append(plots.save_traversals(model, x_test, shape, out / "traversals.png", y=y))
    mu, _ = model.encode(x_test, y)
    names = plots.FASHION_MNIST_CLASSES if prepared.name.startswith("fashion-mnist") else None
    written.append(plots.save_latent_scatter(mu, out / "latent.png", labels=y_test, class_names=names,
                                             title=f"latent means of {len(mu)} test images"
                                                   + (" (PCA)" if model.n_latent > 2 else "")))
    written.append(plots.save_loss_curves(model.history, out / "loss_curves.png",
                                          title=f"{_describe(model)} on {prepared.name}"))
    return written


def _category_labels(y, categories, top: int = 10) -> tuple[np.ndarray, list[str]]:
    """The labels of a scatter: the ``top`` most frequent categories of y, every other one as "other"."""
    order = np.argsort(-np.bincount(y, minlength=len(categories)), kind="stable")[:top]
    mapped = np.full(len(y), len(order))
    for new, old in enumerate(order):
        mapped[y == old] = new
    return mapped, [categories[i] for i in order] + ["other"]


def _text_pictures(model: VAE, corpus, x_test, y_test, out: Path) -> list[Path]:
    """latent.png (the held-out documents' latent means by category), top_words.png, loss_curves.png."""
    from . import plots, text
    if not plots.matplotlib_available():
        raise ImportError(f"matplotlib is not installed ({plots.PLOT_INSTALL})")
    y = y_test if model.conditional else None
    mu, _ = model.encode(x_test, y)
    labels, names = _category_labels(corpus.y_test[:x_test.shape[0]], corpus.categories)
    written = [plots.save_latent_scatter(mu, out / "latent.png", labels=labels, class_names=names,
                                         title=f"latent means of {x_test.shape[0]} held-out glosses"
                                               + (" (PCA)" if model.n_latent > 2 else ""))]
    if not model.conditional:
        words, rises = text.top_words(model, n_words=8)
        written.append(plots.save_top_words(words, out / "top_words.png", rises))
    written.append(plots.save_loss_curves(model.history, out / "loss_curves.png",
                                          title=f"{_describe(model)} on {corpus.name}"))
    return written


# ------------------------------------------------------------------------------------------------
# evaluate
# ------------------------------------------------------------------------------------------------
LIKELIHOOD_MEANING = {   # what a number in nats is, per likelihood: never compare across them
    "bernoulli": "a cross-entropy when the pixels are grey, a log-probability when they are binary",
    "continuous_bernoulli": "a log-density over grey values in [0, 1], which can be negative",
    "gaussian": "a log-density over real values",
    "multinomial": "the log-probability of the document's words, without the multinomial coefficient",
}


def _text_data_for(model: VAE, spec: str):
    """The corpus a text model is evaluated on, checked against the model's vocabulary."""
    corpus = load_text_dataset(spec)
    if model.vocabulary is not None and tuple(corpus.vocabulary) != tuple(model.vocabulary):
        raise CommandError(f"the corpus {spec!r} has another vocabulary than the model ({corpus.n_features} words, "
                           f"the model {model.n_input}): give the --data it was trained on")
    if corpus.n_features != model.n_input:
        raise CommandError(f"the model has {model.n_input} inputs but the corpus {spec!r} has "
                           f"{corpus.n_features} words")
    return corpus


def cmd_evaluate(args) -> int:
    model, model_path = _load_model(args.model)
    data_spec, binarize, info = _data_for_model(args, model_path, model)
    text = _is_text(data_spec)
    if text:
        data = _text_data_for(model, data_spec)
        x, y_all, texts = _text_split(data, "test", args.n, model.dtype)
        y, unit = _test_labels(model, y_all, data_spec), "document"
    else:
        data = _load_data(data_spec)
        if data.n_features != model.n_input:
            raise CommandError(f"the model has {model.n_input} inputs but the data {data_spec!r} has "
                               f"{data.n_features} features")
        prepared = prepare(data, binarize, dtype=model.dtype, n_test=args.n, include_train=False)
        x, y, unit = prepared.x_test, _test_labels(model, prepared.y_test, data_spec), "image"
    n = x.shape[0]
    if args.worst > n:
        raise CommandError(f"--worst {args.worst} asks for more {unit}s than the {n} evaluated")
    shape = _image_shape_for(args, model, data, info) if args.worst and not args.no_plots and not text else None
    _say(args, f"evaluating {model_path} ({_describe(model)}, {model.epochs_trained} epochs) on {n} test "
               f"{unit}s of {data.name}{', binarized' if binarize != 'none' else ''}, k={args.k}")
    start = time.perf_counter()
    rng = np.random.default_rng([args.seed, 20])
    elbo = model.elbo(x, y, rng=rng)
    log_px = np.empty(n)
    chunk = max(1, min(n, 200_000 // args.k or 1, 500))   # ~ a few seconds per chunk, for the progress line
    last = start
    for first in range(0, n, chunk):
        sl = slice(first, min(n, first + chunk))
        log_px[sl] = model.log_likelihood(x[sl], None if y is None else y[sl], k=args.k, rng=rng)
        now = time.perf_counter()
        if now - last > 15 and sl.stop < n:   # a line every 15 s at most
            done = sl.stop / n
            _say(args, f"  {sl.stop}/{n} images, {_duration(now - start)} elapsed, "
                       f"{_duration((now - start) * (1 - done) / done)} left")
            last = now
    seconds = time.perf_counter() - start
    report = (latent_report(model, x, threshold=args.threshold, rng=np.random.default_rng([args.seed, 21]), y=y)
              if n >= 2 else None)                     # a variance and I(x; z) need two images at least
    neg_elbo, neg_elbo_se = _mean_se(-elbo)
    nll, nll_se = _mean_se(-log_px)
    worst = np.argsort(log_px, kind="stable")[:args.worst]
    result = {"model": str(model_path), "data": data_spec, "dataset": data.name, "binarize": binarize,
              "n": n, "k": args.k, "seed": args.seed, "likelihood": model.likelihood.name,
              "conditional": model.conditional,
              "neg_elbo": neg_elbo, "neg_elbo_se": neg_elbo_se, "nll": nll, "nll_se": nll_se,
              "units": f"nats per {unit}; se = std / sqrt(n) over {unit}s", "seconds": seconds,
              "backend": backend.get_backend(), "purevae_version": __version__,
              "latent_report": None if report is None else {
                  key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in report.items()},
              "worst": [{"index": int(i), "log_px": float(log_px[i])} for i in worst]}
    pictures = []
    if not args.no_plots:
        try:
            plots = _plots()
        except CommandError as exc:
            _say(args, f"pictures skipped: {exc}")
        else:
            if report is not None:
                pictures.append(plots.save_latent_health(report, model_path.with_name("latent_health.png")))
            if args.worst and not text:
                pictures.append(plots.image_grid(x[worst], shape, model_path.with_name("worst.png"),
                                                 ncols=min(8, args.worst)))
    result["pictures"] = [p.name for p in pictures]
    if text:     # per-word, from the IW estimate of log p(x)
        result["perplexity"] = perplexity(log_px, np.asarray(x.sum(axis=1)).ravel())
    json_path = Path(args.json) if args.json else model_path.with_name(f"{model_path.stem}_evaluation.json")
    _write_json(json_path, result)
    iw_label = f"-log p(x{'|y' if model.conditional else ''}) (IW, k={args.k})"
    print(f"{'negative ELBO':<{len(iw_label)}}  {_pm(neg_elbo, neg_elbo_se)} nats per {unit}")
    print(f"{iw_label}  {_pm(nll, nll_se)} nats per {unit}")
    if text:
        print(f"{'per-word perplexity':<{len(iw_label)}}  {result['perplexity']:.1f} (from the IW estimate: an upper "
              f"bound)")
    print(f"(likelihood {model.likelihood.name}: {LIKELIHOOD_MEANING[model.likelihood.name]})")
    print(f"({n} test {unit}s of {data.name}; +- is the standard error over {unit}s; {_duration(seconds)})")
    if model.conditional:
        print("(a conditional model: both numbers are of x given its true label y, not comparable with an "
              "unconditional model's log p(x))")
    print(_format_report(report) if report is not None else "latent health: needs at least 2 test images")
    if args.worst:
        print(f"lowest log p(x{'|y' if model.conditional else ''}), the anomaly score (test index: nats): "
              + ", ".join(f"{int(i)}: {log_px[i]:.1f}" for i in worst))
        if text:
            for i in worst:
                print(f"  {int(i)}: {texts[i]}")
    print(f"wrote {json_path}" + (f", {', '.join(str(p) for p in pictures)}" if pictures else ""))
    return 0


def _format_report(report: dict) -> str:
    """The latent report in three lines: totals, then each dimension's KL with the active ones starred."""
    kl = report["kl_per_dimension"]
    dims = " ".join(f"{v:.2f}{'*' if a else ''}" for v, a in zip(kl, report["active"]))
    return (f"latent health: {report['active_units']} of {len(kl)} units active (Var_x mu_j(x) > "
            f"{report['threshold']:g}), KL {report['kl']:.2f} nats, I(x; z) ~ {report['mutual_information']:.2f} "
            f"nats (at most log n = {report['mutual_information_max']:.2f})\n"
            f"  KL per dimension, nats (* = active): {dims}")


# ------------------------------------------------------------------------------------------------
# pictures on demand
# ------------------------------------------------------------------------------------------------
def _default_out(args, model_path: Path, name: str) -> Path:
    return Path(args.out) if args.out else model_path.with_name(name)


def _refuse_text(model: VAE, what: str) -> None:
    if model.likelihood.name == "multinomial":
        raise CommandError(f"{what} draws images; this is a bag-of-words model (use `purevae sample` for its words "
                           f"or `purevae neighbours`)")


def cmd_sample(args) -> int:
    model, model_path = _load_model(args.model)
    if model.likelihood.name == "multinomial":     # a text model: the most likely words of each draw
        probs = model.sample(args.n, rng=args.seed)
        words = model.vocabulary or tuple(f"w{i}" for i in range(model.n_input))
        print(f"{args.n} draws z ~ N(0, I), the {min(args.ncols, model.n_input)} most likely words of each:")
        for i, row in enumerate(probs):
            top = np.argsort(-row, kind="stable")[:args.ncols]
            print(f"{i + 1:3d}. " + " ".join(f"{words[w]} ({row[w]:.3f})" for w in top))
        return 0
    plots = _plots()
    info = _run_info(model_path)
    shape = _image_shape_for(args, model, info=info)
    out = _default_out(args, model_path, "samples.png")
    if model.conditional:
        dataset = info.get("data", {}).get("name") if isinstance(info.get("data"), dict) else None
        names = _class_names(dataset, model.n_classes)
        path = plots.save_class_samples(model, shape, out, n_per_class=args.ncols, class_names=names, rng=args.seed)
        print(f"wrote {path} (one row per class: {args.ncols} latent codes from the prior, each decoded with "
              f"every one of the {model.n_classes} labels)")
        return 0
    path = plots.save_samples(model.sample(args.n, rng=args.seed), shape, out, ncols=args.ncols)
    print(f"wrote {path} ({args.n} samples from the prior)")
    return 0


def _model_and_test_data(args):
    model, model_path = _load_model(args.model)
    _refuse_text(model, args.command)
    data_spec, binarize, info = _data_for_model(args, model_path)
    data = _load_data(data_spec)
    if data.n_features != model.n_input:
        raise CommandError(f"the model has {model.n_input} inputs but the data {data_spec!r} has "
                           f"{data.n_features} features")
    return model, model_path, data, binarize, info


def cmd_reconstruct(args) -> int:
    plots = _plots()
    model, model_path, data, binarize, info = _model_and_test_data(args)
    prepared = prepare(data, binarize, dtype=model.dtype, n_test=args.n, include_train=False)
    x, y = prepared.x_test, _test_labels(model, prepared.y_test, data.name)
    assert x is not None   # _load_data refuses data without a test set
    shape = _image_shape_for(args, model, data, info)
    path = plots.save_reconstructions(x, model.reconstruct(x, y), shape,
                                      _default_out(args, model_path, "reconstructions.png"), ncols=args.ncols)
    print(f"wrote {path} ({len(x)} test images of {data.name}, each above its reconstruction)")
    return 0


def cmd_traverse(args) -> int:
    plots = _plots()
    model, model_path, data, binarize, info = _model_and_test_data(args)
    prepared = prepare(data, binarize, dtype=model.dtype, include_train=False)
    x, y = prepared.x_test, _test_labels(model, prepared.y_test, data.name)
    assert x is not None   # _load_data refuses data without a test set
    if args.index >= len(x):
        raise CommandError(f"--index {args.index} is out of range: the test set has {len(x)} images")
    shape = _image_shape_for(args, model, data, info)
    images, dims, kl = plots.traversal_images(model, x, n_dims=args.dims, n_steps=args.steps, limit=args.limit,
                                              index=args.index, y=y)
    path = plots.image_grid(images, shape, _default_out(args, model_path, "traversals.png"), ncols=args.steps)
    shown = ", ".join(f"z[{d}] (KL {kl[d]:.2f})" for d in dims)
    print(f"wrote {path}: rows vary {shown} from -{args.limit:g} to +{args.limit:g}")
    return 0


def cmd_neighbours(args) -> int:
    from . import text
    model, model_path = _load_model(args.model)
    if model.vocabulary is None:
        raise CommandError(f"{model_path} has no vocabulary: neighbours needs a model trained on word counts "
                           f"(purevae train --data wordnet --likelihood multinomial)")
    if model.conditional:
        raise CommandError("neighbours needs an unconditional model: a conditional model's encoding depends on a "
                           "label the query does not have")
    info = _run_info(model_path)
    trained = info.get("args", {}) if isinstance(info.get("args"), dict) else {}
    spec = args.data or trained.get("data") or "wordnet"
    corpus = _text_data_for(model, spec)
    try:
        query = text.encode_texts(model, [args.text])[0].astype(np.float64)
    except ValueError:
        raise CommandError(f"the query {args.text!r} has no word of the model's vocabulary (words are lower-case "
                           f"letters, 2 or more, and not stop words)") from None
    counts = scipy.sparse.vstack([corpus.x_train, corpus.x_test], format="csr")
    texts = corpus.texts_train + corpus.texts_test
    labels = np.concatenate([corpus.y_train, corpus.y_test])
    mu = model.encode(counts)[0].astype(np.float64)
    cosine = (mu @ query) / np.maximum(np.linalg.norm(mu, axis=1) * np.linalg.norm(query), 1e-300)
    nearest = np.argsort(-cosine, kind="stable")[:args.n]
    print(f"nearest of {len(texts)} glosses of {corpus.name} to {args.text!r} (cosine of the latent means):")
    for rank, i in enumerate(nearest, 1):
        print(f"{rank:3d}. {cosine[i]:.3f}  [{corpus.categories[labels[i]]}]  {texts[i]}")
    return 0


# ------------------------------------------------------------------------------------------------
# gradcheck
# ------------------------------------------------------------------------------------------------
def cmd_gradcheck(args) -> int:
    if args.likelihood != "gaussian" and args.variance is not None:
        raise _UsageError(f"{PROG} gradcheck", "--variance applies to --likelihood gaussian only")
    model = VAE(n_input=args.n_input, hidden=tuple(args.hidden), n_latent=args.latent, likelihood=args.likelihood,
                variance=args.variance, activation=args.activation, dtype="float64", seed=args.seed,
                n_classes=args.n_classes)
    rng = np.random.default_rng([args.seed, 30])
    if args.likelihood == "multinomial":               # word counts
        x = rng.poisson(1.0, (args.batch, args.n_input)).astype(np.float64)
    elif args.likelihood != "gaussian":                # the Bernoulli likelihoods: values in [0, 1]
        x = rng.random((args.batch, args.n_input))
    else:
        x = rng.standard_normal((args.batch, args.n_input))
    y = None if args.n_classes is None else rng.integers(0, args.n_classes, args.batch)
    errors = run_gradcheck(model, x, beta=args.beta, max_entries=args.max_entries, seed=args.seed, y=y,
                           objective=args.objective, k=args.k, free_bits=args.free_bits)
    worst = max(errors.values())
    what = "" if args.objective == "elbo" and args.k is None else f", objective {args.objective} k={args.k or 1}"
    print(f"gradient check of {_describe(model)}, batch {args.batch}{what}, backend {backend.get_backend()}:")
    print(format_table(errors))
    ok = worst <= args.tol
    print(f"largest relative error {worst:.2e}: {'ok' if ok else 'FAILED'} (tolerance {args.tol:g})")
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    if argv is not None and (isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple))
                             or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"argv must be a list of strings or None, got {argv!r}")
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        args = parser.parse_args(argv)
        if args.backend:
            backend.set_backend(args.backend)
        return args.run(args)
    except _UsageError as exc:
        prog = f"{PROG} {command}" if exc.prog == PROG and command in _COMMANDS else exc.prog
        print(f"{prog}: error: {exc} (see `{prog} --help`)", file=sys.stderr)
        return 2
    except SystemExit as exc:   # --help and --version print and "exit"; main returns instead
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CommandError, TrainingDiverged, ValueError, TypeError, OSError, ImportError, MemoryError) as exc:
        where = f"{PROG} {command}" if command else PROG
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{where}: error: {message}", file=sys.stderr)
        return 1
    except Exception as exc:      # anything else (RecursionError, a bug): still one line, never a traceback
        where = f"{PROG} {command}" if command else PROG
        message = " ".join(str(exc).split())
        print(f"{where}: error: {type(exc).__name__}{': ' + message if message else ''} (unexpected: please "
              f"report it)", file=sys.stderr)
        return 1
