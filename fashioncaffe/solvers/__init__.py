"""Caffe's solvers: SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam, with Caffe's lr policies.

pycaffe API: ``get_solver(path)`` (class from the file's ``type``; legacy ``solver_type`` upgraded),
``SGDSolver(path)`` ..., then ``.net``, ``.test_nets``, ``.iter``, ``.step(n)``, ``.solve()``,
``.restore(path)``, ``.snapshot()``, ``.param``.  See :mod:`.base` for the loop and :mod:`.updates`
and :mod:`.lr_policy` for the formulas.
"""
from .base import (AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver, SGDSolver, Solver,
                   get_solver, read_solver, run_training)
from .lr_policy import learning_rate
from .updates import RULES

__all__ = ["Solver", "SGDSolver", "NesterovSolver", "AdaGradSolver", "RMSPropSolver", "AdaDeltaSolver",
           "AdamSolver", "get_solver", "read_solver", "run_training", "learning_rate", "RULES"]
