"""Build the Cython extension purevae._kernels.

Everything else lives in pyproject.toml. ``PUREVAE_DEBUG_KERNELS=1 pip install -e .`` builds the kernels
with bounds and wraparound checks on, for the debug CI pass (STYLE.md section 4).
"""
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("PUREVAE_DEBUG_KERNELS", "") not in ("", "0")
directives = {
    "language_level": 3,
    "boundscheck": debug,
    "wraparound": debug,
    "initializedcheck": debug,
    "cdivision": True,
}
extensions = [
    Extension(
        "purevae._kernels",
        ["purevae/_kernels.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"] + (["-O0", "-g"] if debug else []),
    )
]
setup(ext_modules=cythonize(extensions, compiler_directives=directives))
