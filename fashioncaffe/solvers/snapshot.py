"""Snapshots: Caffe's Solver::Snapshot / Restore with SGDSolver's solver-state part.

A snapshot is ``<prefix>_iter_<N>.caffemodel`` + ``.solverstate`` (or the ``.h5`` pair with
``snapshot_format: HDF5``): the net's weights, and the iteration, learning-rate step, model path,
the solver's history blobs and (where BVLC's reader ignores it) the state of every random stream,
:mod:`.rng_state`.  Both files are written atomically (a killed write leaves only a hidden ``.tmp``
file, which the next run removes), after checking that the weights are finite; whether a snapshot
is *good* (resumable) the solver decides from the loss that follows it.  Restoring puts the random
streams back and moves the data readers to where the snapshot left them, so a resumed run ends with
the weights of an uninterrupted one.
"""
from __future__ import annotations

import os

from .. import logging_caffe as log
from ..formats.model_files import read_solverstate, write_solverstate
from ..formats.weights import copy_weights_into, save_net
from ..errors import fail
from ..proto import caffe_pb2
from .rng_state import capture, restore as restore_rng, restore_without_record
from .solver_nets import SRC


def write_snapshot(solver) -> str:
    """Write the solver's snapshot pair; returns the solver state's path."""
    solver.check_finite(weights=True)
    p = solver.param
    base = f"{p.snapshot_prefix}_iter_{solver.iter}"
    if p.snapshot_format == caffe_pb2.SolverParameter.HDF5:
        model, state = base + ".caffemodel.h5", base + ".solverstate.h5"
        log.info(f"Snapshotting to HDF5 file {model}", SRC + "478")
        save_net(solver.net, model, hdf5=True, write_diff=p.snapshot_diff)
        log.info(f"Snapshotting solver state to HDF5 file {state}", "sgd_solver.cpp:303")
    else:
        model, state = base + ".caffemodel", base + ".solverstate"
        log.info(f"Snapshotting to binary proto file {model}", SRC + "469")
        save_net(solver.net, model, write_diff=p.snapshot_diff)
        log.info(f"Snapshotting solver state to binary proto file {state}", "sgd_solver.cpp:285")
    write_solverstate(state, solver.iter, model, solver.current_step, solver.history_arrays(), capture(solver))
    return state


def restore_snapshot(solver, state_file) -> None:
    """Load a ``.solverstate`` (binary) or ``.solverstate.h5`` into ``solver``: iteration, weights
    (from the model file it names), learning-rate step, history, data readers' position."""
    state_file = os.fspath(state_file)
    st = read_solverstate(state_file)
    solver.iter = int(st.iter)
    if st.learned_net:
        model = st.learned_net
        if not os.path.exists(model):
            alt = os.path.join(os.path.dirname(os.path.abspath(state_file)), os.path.basename(model))
            if os.path.exists(alt):
                model = alt
            else:
                raise fail(f"{state_file}: its model file '{st.learned_net}' (learned_net, a path relative to "
                           f"the working directory {os.getcwd()}) does not exist, nor does {alt}.")
        copy_weights_into(solver.net, model)
    solver.current_step = int(st.current_step)
    solver.load_history(st.history, state_file)
    # the random streams and the data readers continue where the snapshot left them
    if st.rng_state is not None:
        restore_rng(solver, st.rng_state, state_file)
    else:
        restore_without_record(solver, state_file)
