"""Built-in data generators (no downloads): Burgers, Darcy and antiderivative data sets.

Each generator returns a dict of float32 numpy arrays; see docs/DATA.md for the recipes.
Generation runs on the host with numpy/scipy (float64 inside), not under jit.
"""

from .antiderivative import antiderivative, integrate_from_zero
from .burgers import burgers, solve_burgers
from .darcy import darcy, solve_darcy
from .grf import grf_neumann_2d, grf_periodic_1d, grf_rbf_1d
from .registry import GENERATORS, generate, load_npz, save_npz

__all__ = [
    "GENERATORS",
    "antiderivative",
    "burgers",
    "darcy",
    "generate",
    "grf_neumann_2d",
    "grf_periodic_1d",
    "grf_rbf_1d",
    "integrate_from_zero",
    "load_npz",
    "save_npz",
    "solve_burgers",
    "solve_darcy",
]
