"""Caffe's solvers: SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam, with Caffe's lr policies.

pycaffe API: ``get_solver(path)`` (class from the file's ``type``; legacy ``solver_type`` upgraded),
``SGDSolver(path)`` ..., then ``.net``, ``.test_nets``, ``.iter``, ``.step(n)``, ``.solve()``,
``.restore(path)``, ``.snapshot()``, ``.param``.

Modules, as Caffe's sources: :mod:`.solver` (solver.cpp: the loop, testing, display),
:mod:`.solver_nets` (reading the solver file, building its nets), :mod:`.snapshot` (snapshot and
restore), :mod:`.signal_handler`, :mod:`.sgd_solver` (sgd_solver.cpp: the update, and the registry
of solver types), :mod:`.updates` (each type's ComputeUpdateValue), :mod:`.lr_policy`.
"""
from .lr_policy import learning_rate
from .sgd_solver import (SOLVERS, AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver,
                         SGDSolver, get_solver)
from .solver import Solver
from .solver_nets import read_solver

__all__ = ["Solver", "SGDSolver", "NesterovSolver", "AdaGradSolver", "RMSPropSolver", "AdaDeltaSolver",
           "AdamSolver", "SOLVERS", "get_solver", "read_solver", "learning_rate"]
