"""Reading a solver file and building its nets: Caffe's Solver::Init, InitTrainNet and InitTestNets.

The train net comes from exactly one of ``train_net_param``, ``train_net``, ``net_param``, ``net``;
each ``test_iter`` gets a test net from ``test_net_param`` / ``test_net`` in order, then from the
generic ``net_param`` / ``net``.  States merge as Caffe merges them (phase, then the net's own
state, then ``train_state`` / ``test_state``).  Test nets share the train net's parameters.
"""
from __future__ import annotations

import os
import sys

from .. import logging_caffe as log
from ..errors import fail
from ..net import Net
from ..prototxt import read_net_param, read_solver_param
from ..proto import caffe_pb2
from ..upgrade import upgrade_solver

SRC = "solver.cpp:"


def _upgrade_snapshot_prefix(param, path):
    """Caffe's UpgradeSnapshotPrefixProperty: no prefix → the solver file name without extension;
    a prefix that is a directory → that directory / the solver file's stem."""
    if path is None:
        return
    stem_path = os.path.splitext(path)[0]
    if not param.HasField("snapshot_prefix"):
        param.snapshot_prefix = stem_path
        log.info(f"snapshot_prefix was not specified and is set to {param.snapshot_prefix}", "upgrade_proto.cpp:1081")
    elif os.path.isdir(param.snapshot_prefix):
        param.snapshot_prefix = os.path.join(param.snapshot_prefix, os.path.basename(stem_path))
        log.info(f"snapshot_prefix was a directory and is replaced to {param.snapshot_prefix}", "upgrade_proto.cpp:1085")


def read_solver(path_or_param, overrides=None):
    """SolverParameter from a prototxt path (or a message), upgraded as Caffe's tool does;
    returns ``(param, path)`` (path None for a message)."""
    if isinstance(path_or_param, caffe_pb2.SolverParameter):
        param, path = upgrade_solver(path_or_param), None
    else:
        path = os.fspath(path_or_param)
        param = read_solver_param(path)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in param.DESCRIPTOR.fields_by_name:
            raise fail(f"Solver: no field '{key}' in SolverParameter.")
        current = getattr(param, key)
        if hasattr(current, "extend") and not isinstance(current, (str, bytes)):
            current.extend(value)
        else:
            setattr(param, key, value)
    _upgrade_snapshot_prefix(param, path)
    return param, path


def resolve_path(path, solver_dir):
    """Caffe opens paths relative to the working directory; when that misses and the path exists
    beside the solver file, use that one."""
    if os.path.exists(path) or not solver_dir:
        return path
    alt = os.path.join(solver_dir, path)
    if os.path.exists(alt):
        log.info(f"{path} not found in the working directory; using {alt} (beside the solver file)", SRC + "80")
        return alt
    return path


def _make_net(net_param, state, source_file):
    if source_file:  # Python layers' modules are found beside the net file
        d = os.path.dirname(os.path.abspath(source_file))
        if d not in sys.path:
            sys.path.append(d)
    net_param.state.CopyFrom(state)
    return Net(net_param, state.phase, source=source_file)


def build_train_net(p, solver_dir) -> Net:
    """The train net (Caffe's InitTrainNet), in fast-training mode."""
    n = sum([p.HasField("train_net_param"), p.HasField("train_net"), p.HasField("net_param"), p.HasField("net")])
    if n < 1:
        raise fail("SolverParameter must specify a train net using one of these fields: train_net, "
                   "train_net_param, net, net_param.")
    if n > 1:
        raise fail("SolverParameter must not contain more than one of these fields specifying a train_net: "
                   "train_net, train_net_param, net, net_param.")
    source = None
    if p.HasField("train_net_param"):
        log.info("Creating training net specified in train_net_param.", SRC + "91")
        net_param = caffe_pb2.NetParameter()
        net_param.CopyFrom(p.train_net_param)
    elif p.HasField("train_net"):
        source = resolve_path(p.train_net, solver_dir)
        log.info(f"Creating training net from train_net file: {p.train_net}", SRC + "95")
        net_param = read_net_param(source)
    elif p.HasField("net_param"):
        log.info("Creating training net specified in net_param.", SRC + "100")
        net_param = caffe_pb2.NetParameter()
        net_param.CopyFrom(p.net_param)
    else:
        source = resolve_path(p.net, solver_dir)
        log.info(f"Creating training net from net file: {p.net}", SRC + "104")
        net_param = read_net_param(source)
    state = caffe_pb2.NetState(phase=caffe_pb2.TRAIN)
    state.MergeFrom(net_param.state)
    state.MergeFrom(p.train_state)
    net = _make_net(net_param, state, source)
    net.set_fast_training(True)
    # Caffe computes no diff for lr_mult 0 parameters: do not ask autograd for them either
    for blob, lr, _decay, _name in net.param_specs:
        if lr == 0:
            t = blob.tensor
            if t.is_leaf:
                t.requires_grad_(False)
    return net


def build_test_nets(p, solver_dir, train_net) -> list:
    """One test net per ``test_iter`` (Caffe's InitTestNets), sharing ``train_net``'s parameters."""
    has_net_param, has_net_file = p.HasField("net_param"), p.HasField("net")
    num_generic = int(has_net_param) + int(has_net_file)
    num_test = len(p.test_net_param) + len(p.test_net)
    if num_generic:
        if len(p.test_iter) < num_test:
            raise fail("Solver: test_iter must be specified for each test network.")
    elif len(p.test_iter) != num_test:
        raise fail(f"Solver: test_iter must be specified for each test network ({num_test} test nets, "
                   f"{len(p.test_iter)} test_iter values).")
    num_instances = len(p.test_iter)
    if len(p.test_state) and len(p.test_state) != num_instances:
        raise fail("Solver: test_state must be unspecified or specified once per test net.")
    if num_instances and p.test_interval <= 0:
        raise fail("Solver: test_interval must be > 0 when test nets are defined (test_iter is given).")
    specs = []
    for tp in p.test_net_param:
        m = caffe_pb2.NetParameter()
        m.CopyFrom(tp)
        specs.append(("test_net_param", m, None))
    for f in p.test_net:
        src = resolve_path(f, solver_dir)
        specs.append((f"test_net file: {f}", read_net_param(src), src))
    remaining = num_instances - len(specs)
    for _ in range(max(0, remaining)):
        if has_net_param:
            m = caffe_pb2.NetParameter()
            m.CopyFrom(p.net_param)
            specs.append(("net_param", m, None))
        elif has_net_file:
            src = resolve_path(p.net, solver_dir)
            specs.append((f"net file: {p.net}", read_net_param(src), src))
    nets = []
    for i, (what, net_param, src) in enumerate(specs):
        state = caffe_pb2.NetState(phase=caffe_pb2.TEST)
        state.MergeFrom(net_param.state)
        if len(p.test_state):
            state.MergeFrom(p.test_state[i])
        log.info(f"Creating test net (#{i}) specified by {what}", SRC + "190")
        net = _make_net(net_param, state, src)
        net.share_with(train_net)
        nets.append(net)
    return nets
