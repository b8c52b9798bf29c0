"""Build the Cython extension purevae._kernels.

Everything else lives in pyproject.toml. Environment switches, read at build time:

``PUREVAE_DEBUG_KERNELS=1``  bounds and wraparound checks and the kernels' shape asserts on, -O0 -g: the debug
                             CI pass (STYLE.md section 4).
``PUREVAE_OPENMP=1``         compile the kernels' ``prange`` loops (Bernoulli rows, Adam) with OpenMP. Off by
                             default: on the 2-core benchmark machine it did not help (benchmarks/RESULTS.md,
                             "OpenMP"); without it the same loops compile as plain loops. Threads then follow
                             OMP_NUM_THREADS.

``-fno-math-errno`` lets the compiler inline sqrt (Adam) and vectorize; it changes no result (errno only).
``-fopenmp-simd`` honours the ``#pragma omp simd reduction`` of the Bernoulli row (vectorized sums without
-ffast-math); it needs no OpenMP runtime. ``-ffp-contract=off`` keeps a * b + c as two roundings in the AVX2 /
AVX-512 clones too (no fused multiply-add), as NumPy computes the twins, so both round alike step after step.
All are GCC / Clang flags (the supported compilers here).
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


debug = _flag("PUREVAE_DEBUG_KERNELS")
openmp = _flag("PUREVAE_OPENMP")
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
}
compile_args = ["-O3", "-fno-math-errno", "-fopenmp-simd", "-ffp-contract=off"]
compile_args += ["-O0", "-g"] if debug else []
compile_args += ["-fopenmp"] if openmp else []
extensions = [
    Extension(
        "purevae._kernels",
        ["purevae/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
        + ([] if debug else [("CYTHON_WITHOUT_ASSERTIONS", None)]),     # the kernels' shape asserts: debug only
        extra_compile_args=compile_args,
        extra_link_args=["-fopenmp"] if openmp else [],
    )
]
# force: the generated C depends on the directives above, which the .pyx's timestamp does not reflect, so a
# debug build after a normal one (or the reverse) must regenerate it rather than reuse the old _kernels.c
setup(ext_modules=cythonize(extensions, compiler_directives=directives, force=True))
