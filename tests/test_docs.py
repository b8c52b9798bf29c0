r"""docs/derivations.md is tested: every code name on it exists, and every function a section's first line names
is called on that section's path.

Which backticked spans are code names (the rule, applied to each inline ``code`` span of the page):

* a dotted name that starts with ``purevae.`` is resolved fully, module first and then attributes, the way
  ``__module__ + "." + __qualname__`` spells a function (``purevae.gradcheck`` is the module,
  ``purevae.gradcheck.gradcheck`` the function);
* a dotted name whose head is a purevae module (``ops.x``, ``backend.x``; ``kern.x`` means the kernel module:
  ``purevae.ops`` and, when built, ``purevae._kernels``), a purevae class (``VAE.step``, ``MLP.forward``;
  instance attributes set as ``self.<name>`` count) or ``np``/``numpy``/``scipy`` must resolve there;
* a bare call ``name(...)`` must be a public attribute of a purevae module or class, or a NumPy function
  (math written as code, ``expm1(logvar)``); when its arguments are plain names (``f(a, b, c=...)``) they
  must be the parameter names of one such function, in order;
* a span that is one bare identifier must be a name purevae defines (module or class attribute, instance
  attribute, parameter name of a purevae function, a name of ``_kernels.pyx`` such as ``FLT_MIN``) or a
  NumPy attribute, and never a private name (``_encode_raw``);
* a span that is a repository path (``tests/test_ops.py``, ``benchmarks/bench_memory.py``) must exist; with
  ``::name``, the file must define ``name``; ``docs/derivations.md#anchor`` and ``(#anchor)`` links must
  name a section of the page;
* other spans (``x @ weight + bias``, ``eps.reshape(k * B, L)``, ``torch.nn.init.kaiming_uniform_``) are
  expressions of local variables or foreign libraries: only the calls inside them are checked, as above.

In fenced blocks, bare calls whose name has an underscore (``bernoulli_nll_grad(...)``) are checked too.

The path check: the italic line under a section title names functions with full dotted ``purevae.`` names.
Each is monkeypatched (where it is defined and in every purevae module that imported it) with a wrapper that
raises a sentinel, and the section's drivers (SECTION_DRIVERS below) run on a small float64 model on the
NumPy backend (the Cython one for ``purevae._kernels`` names); the name passes if a driver hits the sentinel.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special

import purevae
from purevae import backend

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "derivations.md"
KERNELS_PYX = ROOT / "purevae" / "_kernels.pyx"

IDENT = r"[A-Za-z_]\w*"
DOTTED = rf"{IDENT}(?:\.{IDENT})*"
TOKEN = re.compile(rf"(?<![\w.])({DOTTED})(\()?")
PATH_SPAN = re.compile(r"((?:[\w.-]+/)+[\w.-]+\.(?:py|pyx|md|toml|txt))(?:#([\w-]+)|::(\w+))?")


# ---------------------------------------------------------------------------------------------
# what purevae defines
# ---------------------------------------------------------------------------------------------
def _purevae_modules() -> dict[str, object]:
    """short name -> module, for every importable purevae module (a module that fails to import is left out)."""
    modules = {"purevae": purevae}
    for info in pkgutil.iter_modules(purevae.__path__):
        if info.name == "__main__":
            continue
        try:
            modules[info.name] = importlib.import_module(f"purevae.{info.name}")
        except Exception:  # noqa: BLE001 - an optional or half-edited module: its names are then unknown
            pass
    return modules


MODULES = _purevae_modules()
CLASSES = {name: obj for mod in MODULES.values() for name, obj in vars(mod).items()
           if inspect.isclass(obj) and getattr(obj, "__module__", "").startswith("purevae")}


def _instance_attributes(cls) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("purevae"):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        names.update(re.findall(r"self\.(\w+)\s*(?::[^=\n]*)?=(?!=)", source))
    return names


INSTANCE_ATTRS = {name: _instance_attributes(cls) for name, cls in CLASSES.items()}


def _callables():
    for mod in MODULES.values():
        for name, obj in vars(mod).items():
            if callable(obj) and not name.startswith("__"):
                yield obj
    for cls in CLASSES.values():
        for name, obj in vars(cls).items():
            if callable(obj) or isinstance(obj, (staticmethod, classmethod)):
                yield getattr(cls, name)


def _parameter_names() -> set[str]:
    names: set[str] = set()
    for obj in _callables():
        try:
            names.update(inspect.signature(obj).parameters)
        except (TypeError, ValueError):
            pass
    return names


def _defined_names() -> set[str]:
    names = {name for mod in MODULES.values() for name in vars(mod) if not name.startswith("_")}
    names |= {name for cls in CLASSES.values() for name in dir(cls) if not name.startswith("_")}
    names |= {name for attrs in INSTANCE_ATTRS.values() for name in attrs if not name.startswith("_")}
    names |= {name for name in _parameter_names() if not name.startswith("_")}
    if KERNELS_PYX.exists():   # the C names the kernels cimport (FLT_MIN, expm1f, ...) and the ones they define
        source = KERNELS_PYX.read_text(encoding="utf-8")
        for imported in re.findall(r"^from [\w.]+ cimport (.+)$", source, flags=re.M):
            names |= set(re.findall(IDENT, imported))
        names |= {n for n in re.findall(rf"^c?def (?:[\w\[\]:, ]+ )?({IDENT})\(", source, flags=re.M)
                  if not n.startswith("_")}
    return names


DEFINED = _defined_names()


# ---------------------------------------------------------------------------------------------
# parsing the page
# ---------------------------------------------------------------------------------------------
def slug(title: str) -> str:
    """GitHub's anchor of a Markdown title: lower case, punctuation dropped, spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def split_fenced(text: str) -> tuple[str, list[str]]:
    """(the text with fenced blocks blanked out, the fenced blocks)."""
    blocks: list[str] = []

    def keep(match):
        blocks.append(match.group(0))
        return "\n" * match.group(0).count("\n")
    return re.sub(r"^```.*?^```", keep, text, flags=re.S | re.M), blocks


def code_spans(text: str) -> list[str]:
    """Every inline `code` span outside fenced blocks."""
    prose, _ = split_fenced(text)
    return re.findall(r"`([^`\n]+)`", prose)


def sections(text: str) -> dict[str, str]:
    """title -> body (the text up to the next '## ' title)."""
    prose, _ = split_fenced(text)
    parts = re.split(r"^## (.+)$", prose, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def header_line(body: str) -> str | None:
    """The first paragraph of a section when it is italic (``*...*``), else None."""
    paragraph = body.strip().split("\n\n")[0].strip()
    if paragraph.startswith("*") and paragraph.endswith("*"):
        return paragraph
    return None


def header_names(text: str) -> dict[str, list[str]]:
    """title -> the backticked names of its first (italic) line, for every section that names some."""
    out = {}
    for title, body in sections(text).items():
        line = header_line(body)
        if line:
            names = [re.sub(r"\(.*\)$", "", span) for span in re.findall(r"`([^`\n]+)`", line)]
            if names:
                out[title] = names
    return out


# ---------------------------------------------------------------------------------------------
# resolving names
# ---------------------------------------------------------------------------------------------
class Skip(Exception):
    """A name of the compiled extension while it is not built."""


def resolve(dotted: str, attributes_first: bool = False):
    """(owner, attribute, object) of a dotted name, modules first: ``purevae.ops.linear_forward``.

    ``attributes_first``: as Python evaluates it (``purevae.gradcheck(...)`` calls the function that the
    package exports under the name of its module). Raises ImportError / AttributeError when it does not
    exist, Skip for ``purevae._kernels`` names while the extension is not built.
    """
    parts = dotted.split(".")
    if dotted.startswith("purevae._kernels") and not backend.cython_available():
        raise Skip(dotted)
    obj = importlib.import_module(parts[0])
    owner, path = None, parts[0]
    for part in parts[1:]:
        path = f"{path}.{part}"
        nxt = getattr(obj, part, None) if attributes_first else None
        if nxt is None and inspect.ismodule(obj):
            try:
                nxt = importlib.import_module(path)
            except ModuleNotFoundError:
                nxt = None
        if nxt is None:
            nxt = getattr(obj, part)
        owner, obj = obj, nxt
    return owner, parts[-1], obj


def _class_attribute(cls_name: str, rest: list[str]):
    cls = CLASSES[cls_name]
    if not rest:
        return cls
    if not hasattr(cls, rest[0]):
        if rest[0] in INSTANCE_ATTRS[cls_name] and len(rest) == 1:
            return None   # an instance attribute: exists, nothing to call
        raise AttributeError(f"{cls_name} has no attribute {rest[0]!r}")
    obj = cls
    for part in rest:
        obj = getattr(obj, part)
    return obj


def candidates(name: str, is_call: bool = False) -> list:
    """The objects a code name can mean; raises (ImportError, AttributeError, Skip) when it means none.

    Returns [] for a name that is not a code name (a local variable's attribute, a foreign library).
    """
    parts = name.split(".")
    head = parts[0]
    if head == "purevae":
        return [resolve(name, attributes_first=is_call)[2]]
    if head in ("np", "numpy"):
        return [resolve("numpy." + ".".join(parts[1:]))[2]] if len(parts) > 1 else [np]
    if head == "scipy":
        return [resolve(name)[2]]
    if head == "kern" and len(parts) > 1:
        found = [resolve("purevae.ops." + ".".join(parts[1:]))[2]]
        if backend.cython_available():
            found.append(resolve("purevae._kernels." + ".".join(parts[1:]))[2])
        return found
    if len(parts) > 1 and head in MODULES and head != "purevae":
        return [resolve(f"purevae.{name}")[2]]
    if len(parts) > 1 and head in CLASSES:
        obj = _class_attribute(head, parts[1:])
        return [] if obj is None else [obj]
    return []


def bare_call_candidates(name: str) -> list:
    """What a bare call ``name(...)`` can mean: purevae module or class attributes, or a NumPy function."""
    found = [vars(mod)[name] for mod in MODULES.values() if name in vars(mod) and not name.startswith("_")]
    found += [getattr(cls, name) for cls in CLASSES.values() if name in vars(cls) and not name.startswith("_")]
    if not found and hasattr(np, name) and callable(getattr(np, name)):
        return [getattr(np, name)]
    return found


def _call_arguments(span: str, start: int) -> str | None:
    """The text between the parenthesis at ``start`` and its match, or None when unbalanced."""
    depth = 0
    for i in range(start, len(span)):
        depth += {"(": 1, ")": -1}.get(span[i], 0)
        if depth == 0:
            return span[start + 1:i]
    return None


def _split_arguments(args: str) -> list[str]:
    out, depth, current = [], 0, ""
    for ch in args:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def _signature_matches(obj, positional: list[str], keywords: list[str], drop_self: bool) -> bool:
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return True   # nothing to compare with
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return names[:len(positional)] == positional and set(keywords) <= {p.name for p in params}


def check_arguments(name: str, objects: list, args: str) -> str | None:
    """A problem when the call's arguments are plain names that match no candidate's parameters."""
    parts = _split_arguments(args)
    positional, keywords = [], []
    for part in parts:
        if re.fullmatch(IDENT, part) and not keywords:
            positional.append(part)
        elif re.fullmatch(rf"({IDENT})\s*=[^=].*", part):
            keywords.append(part.split("=")[0].strip())
        else:
            return None   # an expression: not a signature
    objects = [o for o in objects if not getattr(o, "__module__", "").startswith(("numpy", "scipy"))]
    if not objects:
        return None
    drop_self = "." in name and name.split(".")[0] in CLASSES or "." not in name
    if any(_signature_matches(o, positional, keywords, drop_self) for o in objects):
        return None
    return f"`{name}({args})`: the arguments are not the parameters of {name}"


def span_problems(span: str, anchors: set[str]) -> list[str]:
    """What is wrong with one inline code span (see the module docstring for the rule)."""
    problems: list[str] = []
    path = PATH_SPAN.fullmatch(span)
    if path:
        file, anchor, member = path.groups()
        target = ROOT / file
        if not target.exists():
            return [f"`{span}`: no file {file}"]
        if anchor and file == "docs/derivations.md" and anchor not in anchors:
            problems.append(f"`{span}`: no section #{anchor}")
        if member and not re.search(rf"^\s*(?:def|class) {member}\b", target.read_text(), flags=re.M):
            problems.append(f"`{span}`: {file} defines no {member}")
        return problems
    code = re.sub(r"(['\"]).*?\1", "", span)          # string literals are values, not names
    if re.fullmatch(IDENT, code.strip()):
        word = code.strip()
        if word.startswith("_"):
            return [f"`{span}`: a private name"]
        if word not in DEFINED and not hasattr(np, word):
            return [f"`{span}`: purevae defines no {word}"]
        return []
    for match in TOKEN.finditer(code):
        name, is_call = match.group(1), match.group(2) is not None
        if any(part.startswith("_") for part in name.split(".")[1:]) and not name.startswith("purevae._kernels"):
            problems.append(f"`{span}`: private name {name}")
            continue
        try:
            if "." in name:
                objects = candidates(name, is_call)
            elif is_call:
                objects = bare_call_candidates(name)
                if not objects:
                    problems.append(f"`{span}`: no function {name} in purevae or NumPy")
                    continue
            else:
                continue
        except Skip:
            continue
        except (ImportError, AttributeError) as exc:
            problems.append(f"`{span}`: {name} does not exist ({exc})")
            continue
        if is_call and objects:
            args = _call_arguments(code, match.end() - 1)
            if args is not None:
                problem = check_arguments(name, objects, args)
                if problem:
                    problems.append(problem)
    return problems


def fenced_problems(block: str) -> list[str]:
    """Bare calls with an underscore in their name, inside a fenced block, must exist."""
    problems = []
    for match in re.finditer(rf"(?<![\w.])({IDENT})\(", block):
        name = match.group(1)
        if "_" in name.strip("_") and not bare_call_candidates(name):
            problems.append(f"code block: no function {name} in purevae or NumPy")
    return problems


def doc_problems(text: str) -> list[str]:
    """Every name on the page that does not resolve, every anchor that names no section."""
    anchors = {slug(title) for title in sections(text)}
    problems = [p for span in code_spans(text) for p in span_problems(span, anchors)]
    _, blocks = split_fenced(text)
    problems += [p for block in blocks for p in fenced_problems(block)]
    prose, _ = split_fenced(text)
    problems += [f"link (#{a}): no such section" for a in re.findall(r"\]\(#([\w-]+)\)", prose) if a not in anchors]
    return problems


def header_problems(text: str) -> list[str]:
    """A header name must be a full dotted purevae name of a function, spelled where it is defined."""
    problems = []
    for title, names in header_names(text).items():
        for name in names:
            if not name.startswith("purevae."):
                problems.append(f"{title}: `{name}` is not a full dotted purevae name")
                continue
            try:
                _, _, obj = resolve(name)
            except Skip:
                continue
            except (ImportError, AttributeError) as exc:
                problems.append(f"{title}: `{name}` does not exist ({exc})")
                continue
            if inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
                problems.append(f"{title}: `{name}` is not a function (name the method the path calls)")
                continue
            canonical = f"{obj.__module__}.{obj.__qualname__}"
            if canonical != name:
                problems.append(f"{title}: `{name}` is defined as `{canonical}`: name it there")
    return problems


# ---------------------------------------------------------------------------------------------
# drivers: what runs each section's code, on a small float64 model
# ---------------------------------------------------------------------------------------------
class OnPath(BaseException):
    """Raised by a patched function: it was called. BaseException, so that no ``except Exception`` hides it."""


def _model(likelihood: str = "bernoulli") -> purevae.VAE:
    return purevae.VAE(n_input=6, hidden=(5,), n_latent=2, likelihood=likelihood, activation="relu",
                       dtype="float64", seed=0)


def _data(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).random((n, 6))


def train_step(likelihood="bernoulli"):
    model, x = _model(likelihood), _data()
    eps = np.random.default_rng(1).standard_normal((4, 2))
    return lambda: model.loss_and_grads(x, eps=eps, beta=0.5)


def train_step_k_samples():
    model, x = _model(), _data()
    eps = np.random.default_rng(1).standard_normal((3, 4, 2))
    return lambda: model.loss_and_grads(x, eps=eps)


def train_step_iwae(likelihood="bernoulli"):
    model, x = _model(likelihood), _data()
    eps = np.random.default_rng(1).standard_normal((3, 4, 2))
    return lambda: model.loss_and_grads(x, eps=eps, beta=0.5, objective="iwae")


def train_step_free_bits():
    model, x = _model(), _data()
    eps = np.random.default_rng(1).standard_normal((4, 2))
    return lambda: model.loss_and_grads(x, eps=eps, free_bits=0.01)


def elbo(likelihood="bernoulli"):
    model, x = _model(likelihood), _data()
    return lambda: model.elbo(x, k=2)


def log_likelihood(likelihood="bernoulli"):
    model, x = _model(likelihood), _data()
    return lambda: model.log_likelihood(x, k=3, batch_size=2, max_rows=4)   # 2 chunks of examples, of samples


def fit(optimizer="adam"):
    model, x = _model(), _data(8)
    return lambda: model.fit(x, epochs=2, batch_size=4, optimizer=optimizer, warmup_epochs=2)


def gradcheck():
    model, x = _model(), _data(3)
    return lambda: purevae.gradcheck(model, x, max_entries=2)


def latent_report(function="latent_report"):
    model, x = _model(), _data(6)
    return lambda: getattr(purevae.diagnostics, function)(model, x)


def data_parallel(what="fit"):
    """A one-rank communicator (COMM_SELF) through the data-parallel paths: fit, with free bits, the evaluations."""
    mpi = pytest.importorskip("mpi4py.MPI", reason="the [mpi] extra is not installed")
    model, x = _model(), _data(8)
    runs = {"fit": lambda: model.fit(x, epochs=1, batch_size=4, comm=mpi.COMM_SELF),
            "free_bits": lambda: model.fit(x, epochs=1, batch_size=4, free_bits=0.01, comm=mpi.COMM_SELF),
            "elbo": lambda: model.elbo(x, batch_size=4, comm=mpi.COMM_SELF),
            "log_likelihood": lambda: model.log_likelihood(x, k=3, batch_size=4, comm=mpi.COMM_SELF)}
    return runs[what]


def _gaussian(driver, likelihood="gaussian"):
    def prepare():
        return driver(likelihood)
    prepare.__name__ = f"{driver.__name__}_{likelihood}"
    return prepare


def _cb(driver):
    return _gaussian(driver, "continuous_bernoulli")


def conditional(what="step"):
    """A conditional model (3 classes) on the paths that take labels: a k-sample step, IWAE, the evaluations."""
    model = purevae.VAE(6, hidden=(4,), n_latent=2, dtype="float64", seed=0, n_classes=3)
    x, y = _data(), np.array([0, 2, 2, 1])
    eps = np.random.default_rng(1).standard_normal((3, 4, 2))
    runs = {"step": lambda: model.loss_and_grads(x, eps=eps, y=y, beta=0.5),
            "iwae": lambda: model.loss_and_grads(x, eps=eps, y=y, objective="iwae"),
            "elbo": lambda: model.elbo(x, y, k=2),
            "log_likelihood": lambda: model.log_likelihood(x, y, k=3, batch_size=2, max_rows=4)}
    return runs[what]


def multinomial(what="step"):
    """A bag-of-words model on dense and on sparse counts: training, the IWAE step and the evaluation."""
    import scipy.sparse
    model = purevae.VAE(6, hidden=(4,), n_latent=2, likelihood="multinomial", dtype="float64", seed=0)
    x = np.random.default_rng(0).poisson(1.0, (4, 6)).astype(float)
    sparse = scipy.sparse.csr_matrix(x)
    eps = np.random.default_rng(1).standard_normal((3, 4, 2))
    runs = {"step": lambda: model.loss_and_grads(x, eps=eps), "sparse": lambda: model.loss_and_grads(sparse, eps=eps),
            "elbo": lambda: (model.elbo(x, k=2), model.elbo(sparse, k=2)),
            "log_likelihood": lambda: (model.log_likelihood(x, k=3), model.log_likelihood(sparse, k=3),
                                       purevae.objectives.perplexity(model.log_likelihood(x, k=3), x.sum(axis=1)))}
    return runs[what]


def decode(likelihood="bernoulli"):
    model = _model(likelihood)
    return lambda: model.decode(np.zeros((3, 2)))


SECTION_DRIVERS = {
    "Dense": (train_step,),
    "Activations": (train_step,),
    "Bernoulli": (train_step, elbo, log_likelihood),
    "Gaussian": (_gaussian(train_step), _gaussian(elbo), _gaussian(log_likelihood)),
    "Continuous Bernoulli": (_cb(train_step), _cb(elbo), _cb(log_likelihood), _cb(decode)),
    "Reparameterization": (train_step, elbo, log_likelihood),
    "KL": (train_step, elbo),
    "ELBO": (train_step_k_samples, fit, elbo),
    "Full chain": (train_step, _gaussian(train_step)),
    "Gradient check": (gradcheck,),
    "IWAE": (log_likelihood, _gaussian(log_likelihood)),
    "IWAE training": (train_step_iwae, _gaussian(train_step_iwae)),
    "Free bits": (train_step_free_bits,),
    "KL schedules": (fit,),
    "Data-parallel training": (data_parallel, lambda: data_parallel("free_bits"), lambda: data_parallel("elbo"),
                               lambda: data_parallel("log_likelihood")),
    "Adam": (fit, lambda: fit("sgd")),
    "Multinomial": (multinomial, lambda: multinomial("sparse"), lambda: multinomial("elbo"),
                    lambda: multinomial("log_likelihood")),
    "Conditional VAE": (conditional, lambda: conditional("iwae"), lambda: conditional("elbo"),
                        lambda: conditional("log_likelihood")),
    "Latent health": (latent_report, lambda: latent_report("kl_per_dimension"), lambda: latent_report("active_units"),
                      lambda: latent_report("mutual_information")),
}


def _raiser(name: str):
    def on_path(*args, **kwargs):
        raise OnPath(name)
    return on_path


def _patch(mp: pytest.MonkeyPatch, name: str) -> None:
    """Replace the function ``name`` by a raiser where it is defined and wherever a purevae module holds it."""
    owner, attr, obj = resolve(name)
    raiser = _raiser(name)
    if inspect.isclass(owner):
        mp.setattr(owner, attr, raiser)
        return
    for module_name, module in list(sys.modules.items()):
        if module is not None and (module_name == "purevae" or module_name.startswith("purevae.")):
            for key, value in list(vars(module).items()):
                if value is obj:
                    mp.setattr(module, key, raiser)


def is_on_path(mp: pytest.MonkeyPatch, name: str, drivers) -> bool:
    """Whether one of ``drivers`` calls ``name`` (on the backend that name belongs to)."""
    backend.set_backend("cython" if name.startswith("purevae._kernels.") else "numpy")
    for prepare in drivers:
        run = prepare()                   # build the model and data before patching
        with mp.context() as patched:
            _patch(patched, name)
            try:
                run()
            except OnPath:
                return True
    return False


def off_path_names(mp: pytest.MonkeyPatch, text: str, section_drivers=None) -> list[str]:
    """Header names of ``text`` that no driver of their section calls (or whose section has no driver)."""
    section_drivers = SECTION_DRIVERS if section_drivers is None else section_drivers
    missing = []
    for title, names in header_names(text).items():
        if title not in section_drivers:
            missing.append(f"{title}: names functions but has no driver in tests/test_docs.py")
            continue
        for name in names:
            if not name.startswith("purevae.") or (name.startswith("purevae._kernels")
                                                    and not backend.cython_available()):
                continue
            try:
                obj = resolve(name)[2]
            except (ImportError, AttributeError):
                continue                    # header_problems reports it
            if inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
                continue                    # header_problems reports it too
            if not is_on_path(mp, name, section_drivers[title]):
                missing.append(f"{title}: `{name}` is not called by {[d.__name__ for d in section_drivers[title]]}")
    return missing


# ---------------------------------------------------------------------------------------------
# the tests
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def restore_backend():
    name = backend.get_backend()
    yield
    backend.set_backend(name)


@pytest.fixture(scope="module")
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_code_name_on_the_page_exists(doc_text):
    problems = doc_problems(doc_text)
    assert problems == [], "\n".join(problems)
    assert len(code_spans(doc_text)) > 100          # the parser did see the page


def test_every_section_opens_with_its_italic_line(doc_text):
    missing = [title for title, body in sections(doc_text).items()
               if title != "References" and header_line(body) is None]
    assert missing == []


def test_header_names_are_full_dotted_function_names(doc_text):
    problems = header_problems(doc_text)
    assert problems == [], "\n".join(problems)


def test_every_section_with_names_has_a_driver_and_back(doc_text):
    named = set(header_names(doc_text))
    assert named == set(SECTION_DRIVERS), (named ^ set(SECTION_DRIVERS))


@pytest.mark.parametrize("title", list(SECTION_DRIVERS))
def test_header_names_are_on_the_path_of_their_section(title, doc_text, monkeypatch, restore_backend):
    names = header_names(doc_text).get(title, [])
    assert names, f"section {title!r} names no function"
    snippet = f"## {title}\n\n{header_line(sections(doc_text)[title])}\n"
    missing = off_path_names(monkeypatch, snippet)
    assert missing == [], "\n".join(missing)


def test_code_files_link_to_sections_that_exist(doc_text):
    anchors = {slug(title) for title in sections(doc_text)}
    links = set()
    for path in list((ROOT / "purevae").glob("*.py")) + list((ROOT / "purevae").glob("*.pyx")):
        links |= {(path.name, a) for a in re.findall(r"derivations\.md#([\w-]+)", path.read_text(encoding="utf-8"))}
    assert links, "no code file links to docs/derivations.md"
    assert sorted((f, a) for f, a in links if a not in anchors) == []


def derived_functions(text: str) -> dict[str, list[str]]:
    """Full dotted name of each function an italic line names (compiled kernels aside) -> its sections' anchors."""
    out: dict[str, list[str]] = {}
    for title, names in header_names(text).items():
        for name in names:
            if name.startswith("purevae.") and not name.startswith("purevae._kernels"):
                out.setdefault(name, [])
                if slug(title) not in out[name]:
                    out[name].append(slug(title))
    return out


def backlink_problems(text: str) -> list[str]:
    """A function the page derives must link back: its docstring names one of its sections."""
    problems = []
    for name, anchors in derived_functions(text).items():
        doc = inspect.getdoc(resolve(name)[2]) or ""
        if not any(f"docs/derivations.md#{a}" in doc for a in anchors):
            problems.append(f"{name}: its docstring links to none of " + ", ".join(f"#{a}" for a in anchors))
    return problems


def test_every_derived_function_links_back_to_its_section(doc_text):
    assert len(derived_functions(doc_text)) > 50       # the parser did see the page's italic lines
    problems = backlink_problems(doc_text)
    assert problems == [], "\n".join(problems)


def test_backlink_checker_flags_a_docstring_without_its_section(doc_text, monkeypatch):
    monkeypatch.setattr(resolve("purevae.gradcheck.relative_error")[2], "__doc__", "Relative error, elementwise.")
    assert any(p.startswith("purevae.gradcheck.relative_error:") for p in backlink_problems(doc_text))


# ---- the checkers see a wrong page --------------------------------------------------------------
SYNTHETIC = """\
## Dense

*`purevae.mlp.MLP.forward` → `purevae.ops.linear_forward`, `purevae.ops.dense_forward`.*

Calls `bernoulli_nll_grad(x, logits, nll, grad_logits)`, `purevae.ops.no_such_function`, `_encode_raw`,
`VAE._encode_raw`, `VAE.no_such_method`, `MLP.forward`, `linear_forward(x, weight, out)` and `VAE.params`,
`purevae.gradcheck(model, x, eps=eps)`, `purevae.gradcheck(model, x, epsilon=eps)`;
see [Dense](#dense), [Nowhere](#nowhere), `tests/test_ops.py::no_such_test` and `benchmarks/bench_nothing.py`.

```text
z = reparameterize_kl_forward(mu_logvar, eps, z, kl); w = encode_raw_twin(x)
```

## Numerics

*`purevae.likelihoods.bernoulli_nll_grad`, `purevae.likelihoods.Bernoulli`, `VAE.step`.*
"""


def test_name_checker_flags_wrong_names():
    problems = "\n".join(doc_problems(SYNTHETIC))
    for wrong in ("bernoulli_nll_grad(x, logits, nll, grad_logits)", "no_such_function", "`_encode_raw`: a private",
                  "private name VAE._encode_raw", "VAE.no_such_method", "#nowhere", "no_such_test",
                  "bench_nothing.py", "encode_raw_twin", "purevae.gradcheck(model, x, epsilon=eps)"):
        assert wrong in problems, wrong
    for right in ("`MLP.forward`", "linear_forward(x, weight, out)", "VAE.params", "reparameterize_kl_forward",
                  "#dense", "purevae.gradcheck(model, x, eps=eps)"):
        assert right not in problems, right


def test_header_checker_flags_aliases_classes_and_short_names():
    problems = "\n".join(header_problems(SYNTHETIC))
    assert "`purevae.likelihoods.bernoulli_nll_grad` is defined as `purevae.ops.bernoulli_nll_grad`" in problems
    assert "`purevae.likelihoods.Bernoulli` is not a function" in problems
    assert "`VAE.step` is not a full dotted purevae name" in problems
    assert "Dense" not in problems


def test_path_checker_flags_an_off_path_name(monkeypatch, restore_backend):
    missing = off_path_names(monkeypatch, SYNTHETIC)
    assert missing == ["Dense: `purevae.ops.dense_forward` is not called by ['train_step']",
                       "Numerics: names functions but has no driver in tests/test_docs.py"]


def test_path_checker_flags_a_name_added_to_the_real_page(doc_text, monkeypatch, restore_backend):
    line = header_line(sections(doc_text)["Dense"])
    broken = line[:-1] + " Also `purevae.ops.dense_backward` and `purevae.ops.adam_update`.*"
    assert broken != line and broken in doc_text.replace(line, broken)
    missing = off_path_names(monkeypatch, f"## Dense\n\n{broken}\n")
    assert missing == ["Dense: `purevae.ops.dense_backward` is not called by ['train_step']",
                       "Dense: `purevae.ops.adam_update` is not called by ['train_step']"]


def test_patching_is_undone(monkeypatch, restore_backend):
    original = purevae.ops.linear_forward
    assert is_on_path(monkeypatch, "purevae.ops.linear_forward", (train_step,))
    assert purevae.ops.linear_forward is original
    assert purevae.mlp.ops.linear_forward is original
    loss, _ = train_step()()
    assert np.isfinite(loss)


def test_scipy_and_numpy_names_resolve():
    assert candidates("scipy.special.logsumexp") == [scipy.special.logsumexp]
    assert candidates("np.matmul") == [np.matmul]
    with pytest.raises(AttributeError):
        candidates("np.no_such_function")


def test_the_contents_line_lists_every_section_in_order(doc_text):
    """The page's Contents line links every section, in the page's order (a new section must be added to it)."""
    contents = re.search(r"^Contents: (.+?)\n\n", doc_text, flags=re.S | re.M).group(1)
    linked = re.findall(r"\]\(#([\w-]+)\)", contents)
    assert linked == [slug(title) for title in sections(doc_text)]
