"""Caffe's Solver / SGDSolver loop, with pycaffe's API (``solver.net``, ``step``, ``solve``, ...).

One iteration, exactly as BVLC Caffe's ``Solver::Step`` + ``SGDSolver::ApplyUpdate``:

1. zero the parameter diffs; test first when ``iter % test_interval == 0`` (and ``iter > 0`` or
   ``test_initialization``);
2. ``iter_size`` forward/backward passes (parameter gradients accumulate; the reported loss is
   their mean), smoothed over the last ``average_loss`` iterations for display;
3. (several processes) gradients summed over processes and scaled by 1/N;
4. ``rate = policy(iter)``; clip the accumulated gradients by their global L2 norm
   (``clip_gradients``), normalise by 1/iter_size, regularise (L2: g += λ·decay_mult·w, L1:
   g += λ·decay_mult·sign(w)), compute the update of the solver type with
   ``local_rate = rate·lr_mult`` and subtract it from the weights (not Caffe: a warning, once,
   when one layer holds ≥ 90 % of a norm clipped ≥ 5×: a loss weighted so heavily that clipping
   throttles the rest of the net);
5. ``iter += 1``; snapshot every ``snapshot`` iterations.

Everything on parameters is a handful of ``torch._foreach_*`` calls per group of parameters sharing
(lr_mult, decay_mult).  Parameters with lr_mult 0 are frozen: Caffe computes no diff for them
(``param_propagate_down`` is false), so they are left out of the clipping norm and never change;
their history stays zero (Caffe's too, except AdaGrad-like rules accumulating weight decay, which
never moves the weights).  After a step a parameter's ``diff`` holds the regularised gradient,
not Caffe's update value.

Host synchronisation: the loss is kept as a device tensor; it is read only for display, for the
smoothed loss, and for the non-finite check — every iteration on the CPU (free there), and on a GPU
at display iterations, before each snapshot, at the end of ``step`` and at least every
``NAN_CHECK_EVERY`` iterations.  A NaN or inf loss (or non-finite weights before a snapshot)
raises FashionCaffeError naming the iteration; no snapshot is written from then on, so the last
snapshot on disk is the last good one (snapshots are named by iteration and never overwritten).

Signals (``solve()`` in the main thread): SIGINT → ``sigint_effect`` (default "stop": leave the
loop, then ``snapshot_after_train`` writes a snapshot, as Caffe's tool), SIGHUP →
``sighup_effect`` (default "snapshot": write a snapshot and go on).  A second SIGINT while the first
is pending raises KeyboardInterrupt.
"""
from __future__ import annotations

import collections
import os
import signal
import sys
import threading

import numpy as np
import torch

from .. import distributed
from .. import fastmodes
from .. import logging_caffe as log
from .. import mode
from ..errors import fail
from ..proto import caffe_pb2
from .lr_policy import learning_rate
from .updates import RULES

NAN_CHECK_EVERY = 50   # on a GPU, the longest run of iterations between two non-finite checks

_SRC = "solver.cpp:"


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
    """SolverParameter from a prototxt path (or a message), upgraded as Caffe's tool does."""
    from ..prototxt import read_solver_param
    from ..upgrade import upgrade_solver

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


def _resolve(path, solver_dir):
    """Caffe opens paths relative to the working directory; when that misses and the path exists
    beside the solver file, use that one."""
    if os.path.exists(path) or not solver_dir:
        return path
    alt = os.path.join(solver_dir, path)
    if os.path.exists(alt):
        log.info(f"{path} not found in the working directory; using {alt} (beside the solver file)", _SRC + "80")
        return alt
    return path


class Solver:
    """Base solver: Caffe's Solver + SGDSolver machinery; subclasses pick the update rule.

    ``Solver(path_or_SolverParameter)``; pycaffe's ``get_solver(path)`` picks the class from ``type``.
    """

    type_name: str | None = None   # the update rule; None: take it from the solver file's ``type``

    def __init__(self, solver_file, overrides=None):
        param, path = read_solver(solver_file, overrides)
        self.param = param
        self.solver_file = path
        self._solver_dir = os.path.dirname(os.path.abspath(path)) if path else None
        type_name = self.type_name or param.type or "SGD"
        if type_name not in RULES:
            raise fail(f"Solver {path or ''}: unknown solver type '{type_name}'; known types are "
                       f"{', '.join(RULES)}.")
        self.type = type_name
        self.rule = RULES[type_name](param)
        self.rule.check()
        self._root = distributed.rank() == 0
        log.info("Initializing solver from parameters: \n" + _text(param), _SRC + "48")
        self._check_param()
        self._select_mode()
        if param.random_seed >= 0:
            seed = int(param.random_seed) + distributed.rank()
            mode.set_random_seed(seed)
            np.random.seed(seed % (2 ** 32))
        self.iter = 0
        self.current_step = 0
        self._history = None
        self._dominance_warned = False
        self._losses = collections.deque(maxlen=max(1, int(param.average_loss)))
        self._pending = []           # (iteration, loss tensor) not yet checked for NaN/inf
        self.smoothed_loss = 0.0
        self._requested_early_exit = False
        self._signals = []
        self.sigint_effect = "stop"
        self.sighup_effect = "snapshot"
        self._callbacks = []
        self._last_snapshot = None
        self._synced = False
        self.last_test_scores = {}
        #: None: read device values only where needed on a GPU, eagerly on the CPU; True/False forces it
        self.lazy_sync = None
        self._init_train_net()
        self.test_nets = self._init_test_nets() if self._root else []
        weights = list(param.weights)
        if weights:
            self.copy_weights(weights)
        self._check_snapshot_permissions()
        log.info("Solver scaffolding done.", _SRC + "66")

    # ------------------------------------------------------------------------------------------
    # construction
    def _check_param(self):
        p = self.param
        if p.iter_size < 1:
            raise fail(f"Solver: iter_size must be >= 1, got {p.iter_size}.")
        if p.average_loss < 1:
            raise fail(f"Solver: average_loss must be >= 1, got {p.average_loss}.")
        if p.regularization_type not in ("L1", "L2"):
            raise fail(f"Solver: unknown regularization_type '{p.regularization_type}' (Caffe knows L1 and L2).")
        if p.display < 0 or p.snapshot < 0:
            raise fail("Solver: display and snapshot must be >= 0.")

    def _select_mode(self):
        p = self.param
        if p.HasField("solver_mode") and p.solver_mode == caffe_pb2.SolverParameter.GPU and not mode.is_gpu():
            if torch.cuda.is_available():
                mode.set_device(p.device_id)
                mode.set_mode_gpu()
                log.info(f"Using GPU {p.device_id} (solver_mode: GPU)", "caffe.cpp:230")
            else:
                log.warning("solver_mode is GPU but no CUDA device is visible to PyTorch; running on the CPU.",
                            "caffe.cpp:230")

    def _make_net(self, net_param, state, source_file, what):
        from ..net import Net

        if source_file:
            d = os.path.dirname(os.path.abspath(source_file))
            if d not in sys.path:
                sys.path.append(d)
        net_param.state.CopyFrom(state)
        return Net(net_param, state.phase)

    def _init_train_net(self):
        from ..prototxt import read_net_param

        p = self.param
        n = sum([p.HasField("train_net_param"), p.HasField("train_net"), p.HasField("net_param"), p.HasField("net")])
        if n < 1:
            raise fail("SolverParameter must specify a train net using one of these fields: train_net, "
                       "train_net_param, net, net_param.")
        if n > 1:
            raise fail("SolverParameter must not contain more than one of these fields specifying a train_net: "
                       "train_net, train_net_param, net, net_param.")
        source = None
        if p.HasField("train_net_param"):
            log.info("Creating training net specified in train_net_param.", _SRC + "91")
            net_param = caffe_pb2.NetParameter()
            net_param.CopyFrom(p.train_net_param)
        elif p.HasField("train_net"):
            source = _resolve(p.train_net, self._solver_dir)
            log.info(f"Creating training net from train_net file: {p.train_net}", _SRC + "95")
            net_param = read_net_param(source)
        elif p.HasField("net_param"):
            log.info("Creating training net specified in net_param.", _SRC + "100")
            net_param = caffe_pb2.NetParameter()
            net_param.CopyFrom(p.net_param)
        else:
            source = _resolve(p.net, self._solver_dir)
            log.info(f"Creating training net from net file: {p.net}", _SRC + "104")
            net_param = read_net_param(source)
        state = caffe_pb2.NetState(phase=caffe_pb2.TRAIN)
        state.MergeFrom(net_param.state)
        state.MergeFrom(p.train_state)
        self.net = self._make_net(net_param, state, source, "train")
        self.net.set_fast_training(True)
        # Caffe computes no diff for lr_mult 0 parameters: do not ask autograd for them either
        for blob, lr, _decay, _name in self.net.param_specs:
            if lr == 0:
                t = blob.tensor
                if t.is_leaf:
                    t.requires_grad_(False)

    def _init_test_nets(self):
        from ..prototxt import read_net_param

        p = self.param
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
            src = _resolve(f, self._solver_dir)
            specs.append((f"test_net file: {f}", read_net_param(src), src))
        remaining = num_instances - len(specs)
        for _ in range(max(0, remaining)):
            if has_net_param:
                m = caffe_pb2.NetParameter()
                m.CopyFrom(p.net_param)
                specs.append(("net_param", m, None))
            elif has_net_file:
                src = _resolve(p.net, self._solver_dir)
                specs.append((f"net file: {p.net}", read_net_param(src), src))
        nets = []
        for i, (what, net_param, src) in enumerate(specs):
            state = caffe_pb2.NetState(phase=caffe_pb2.TEST)
            state.MergeFrom(net_param.state)
            if len(p.test_state):
                state.MergeFrom(p.test_state[i])
            log.info(f"Creating test net (#{i}) specified by {what}", _SRC + "190")
            net = self._make_net(net_param, state, src, "test")
            net.share_with(self.net)
            nets.append(net)
        return nets

    def _check_snapshot_permissions(self):
        if not (self._root and self.param.snapshot):
            return
        folder = os.path.dirname(os.path.abspath(self.param.snapshot_prefix + "_iter_0"))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise fail(f"Cannot write to snapshot prefix '{self.param.snapshot_prefix}': folder {folder} does not "
                       "exist or is not writable. Make sure that it exists and is writable.")

    def copy_weights(self, paths):
        """Fine-tune from weights (Caffe's CopyLayers): into the train net and every test net."""
        from ..io.weights import apply_weight_source, read_weight_source

        if isinstance(paths, str):
            paths = [s for s in paths.split(",") if s]
        for path in paths:
            log.info(f"Finetuning from {path}", "caffe.cpp:165")
            src = read_weight_source(path)
            apply_weight_source(self.net, src)
            for net in self.test_nets:
                apply_weight_source(net, src)

    # ------------------------------------------------------------------------------------------
    # pycaffe API
    def step(self, iters: int) -> None:
        """Run ``iters`` iterations (Caffe's Solver::Step)."""
        p = self.param
        start_iter = self.iter
        stop_iter = self.iter + int(iters)
        self._losses = collections.deque(maxlen=max(1, int(p.average_loss)))
        self.smoothed_loss = 0.0
        self._sync_start()
        fastmodes.activate_solver(self)  # opt-in bf16/tf32/compile; the default leaves the nets as built
        cpu = not self._lazy()
        while self.iter < stop_iter:
            self._zero_grads()
            if p.test_interval and self.iter % p.test_interval == 0 and (self.iter > 0 or p.test_initialization):
                if self._root:
                    self.test_all()
                if self._requested_early_exit:
                    break
            for cb in self._callbacks:
                cb[0]()
            display = bool(p.display) and self.iter % p.display == 0
            loss = self._forward_backward()
            self._losses.append(loss)
            self._pending.append((self.iter, loss))
            if cpu or display or len(self._pending) >= NAN_CHECK_EVERY:
                self._check_finite()
            if display:
                self._display()
            for cb in self._callbacks:
                cb[1]()
            self.apply_update(display)
            self.iter += 1
            request = self._requested_action()
            if (p.snapshot and self.iter % p.snapshot == 0 and self._root) or request == "snapshot":
                self.snapshot()
            if request == "stop":
                self._requested_early_exit = True
                break
        self._check_finite()
        del start_iter

    def solve(self, resume_file=None) -> None:
        """Train to ``max_iter`` (Caffe's Solver::Solve), optionally restoring a snapshot first."""
        p = self.param
        log.info(f"Solving {self.net.name}", _SRC + "288")
        log.info(f"Learning Rate Policy: {p.lr_policy}", _SRC + "289")
        self._requested_early_exit = False
        if resume_file:
            log.info(f"Restoring previous solver status from {resume_file}", _SRC + "295")
            self.restore(resume_file)
        handlers = self._install_signals()
        try:
            self.step(p.max_iter - self.iter)
        finally:
            self._remove_signals(handlers)
        if p.snapshot_after_train and (not p.snapshot or self.iter % p.snapshot != 0) and self._root:
            self.snapshot()
        if self._requested_early_exit:
            log.info("Optimization stopped early.", _SRC + "312")
            return
        if p.display and self.iter % p.display == 0:
            with torch.no_grad():
                loss = self.net._run_forward(0, grad=False)
            loss = torch.zeros(()) if loss is None else loss.detach()
            self._losses.append(loss)
            self._pending.append((self.iter, loss))
            self._check_finite()
            log.info(f"Iteration {self.iter}, loss = {log.fmt(self._smoothed())}", _SRC + "325")
        if p.test_interval and self.iter % p.test_interval == 0 and self._root:
            self.test_all()
        log.info("Optimization Done.", _SRC + "331")

    def restore(self, state_file) -> None:
        """Restore a ``.solverstate`` (binary) or ``.solverstate.h5`` snapshot."""
        from ..io.caffemodel import read_solverstate
        from ..io.weights import copy_weights_into

        state_file = os.fspath(state_file)
        st = read_solverstate(state_file)
        self.iter = int(st.iter)
        if st.learned_net:
            model = st.learned_net
            if not os.path.exists(model):
                alt = os.path.join(os.path.dirname(os.path.abspath(state_file)), os.path.basename(model))
                if os.path.exists(alt):
                    model = alt
                else:
                    raise fail(f"{state_file}: its model file '{st.learned_net}' (learned_net, a path relative to "
                               f"the working directory {os.getcwd()}) does not exist, nor does {alt}.")
            copy_weights_into(self.net, model)
        self.current_step = int(st.current_step)
        for layer in self.net._layers:  # data readers continue where the snapshot left them
            if hasattr(layer, "resume_at"):
                layer.resume_at(self.iter * max(1, int(self.param.iter_size)))
        hist = self._ensure_history()
        flat = [t for group in hist for t in group]
        if len(st.history) != len(flat):
            raise fail(f"{state_file}: holds {len(st.history)} history blob(s) but this {self.type} solver on this "
                       f"net keeps {len(flat)}; incorrect length of history blobs (wrong solver type or net?).")
        with torch.no_grad():
            for i, (t, arr) in enumerate(zip(flat, st.history)):
                if int(np.prod(arr.shape)) != t.numel():
                    raise fail(f"{state_file}: history blob {i} has shape {tuple(arr.shape)}, but parameter "
                               f"{self._param_name(i % len(hist[0]))} has shape {tuple(t.shape)}.")
                t.copy_(torch.from_numpy(np.asarray(arr, dtype=np.float32)).reshape(t.shape))
        self._pending.clear()

    def snapshot(self) -> None:
        """Write ``<prefix>_iter_<N>.caffemodel`` + ``.solverstate`` (or the ``.h5`` pair)."""
        from ..io.caffemodel import write_solverstate
        from ..io.weights import save_net

        if not self._root:
            return
        self._check_finite(weights=True)
        p = self.param
        base = f"{p.snapshot_prefix}_iter_{self.iter}"
        if p.snapshot_format == caffe_pb2.SolverParameter.HDF5:
            model, state = base + ".caffemodel.h5", base + ".solverstate.h5"
            log.info(f"Snapshotting to HDF5 file {model}", _SRC + "478")
            save_net(self.net, model, hdf5=True, write_diff=p.snapshot_diff)
            log.info(f"Snapshotting solver state to HDF5 file {state}", "sgd_solver.cpp:303")
        else:
            model, state = base + ".caffemodel", base + ".solverstate"
            log.info(f"Snapshotting to binary proto file {model}", _SRC + "469")
            save_net(self.net, model, write_diff=p.snapshot_diff)
            log.info(f"Snapshotting solver state to binary proto file {state}", "sgd_solver.cpp:285")
        hist = [t.detach().cpu().numpy() for group in self._ensure_history() for t in group]
        write_solverstate(state, self.iter, model, self.current_step, hist)
        self._last_snapshot = state

    def add_callback(self, on_start, on_gradients_ready):
        """pycaffe's ``solver.add_callback``: called at each iteration's start and before the update."""
        self._callbacks.append((on_start, on_gradients_ready))

    def share_weights(self, other_net):
        """pycaffe's ``solver.share_weights(net)``: ``net`` uses this solver's trained parameters."""
        other_net.share_with(self.net)

    def test_all(self) -> None:
        for i in range(len(self.test_nets)):
            if self._requested_early_exit:
                break
            self.test(i)

    def test(self, test_net_id: int = 0) -> dict:
        """Caffe's Solver::Test: mean of each output over ``test_iter`` batches, logged as Caffe does."""
        p = self.param
        log.info(f"Iteration {self.iter}, Testing net (#{test_net_id})", _SRC + "349")
        net = self.test_nets[test_net_id]
        n_iter = int(p.test_iter[test_net_id])
        outputs = net.outputs
        sums = None
        loss_sum = None
        done = 0
        with torch.no_grad():
            for _ in range(n_iter):
                if self._requested_action(peek=True) == "stop":
                    self._requested_early_exit = True
                    break
                loss = net._run_forward(0, grad=False)
                vals = [net.blobs[o].tensor.detach().reshape(-1).to(torch.float32) for o in outputs]
                if sums is None:
                    sums = [v.clone() for v in vals]
                else:
                    torch._foreach_add_(sums, vals)
                if p.test_compute_loss and loss is not None:
                    loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
                done += 1
        if self._requested_early_exit:
            log.info("Test interrupted.", _SRC + "391")
            return {}
        if p.test_compute_loss:
            tl = 0.0 if loss_sum is None else float(loss_sum) / n_iter
            log.info(f"Test loss: {log.fmt(tl)}", _SRC + "395")
        scores = {}
        if sums:
            means = (torch.cat(sums) / float(n_iter)).cpu().numpy()
            k = 0
            for o, s in zip(outputs, sums):
                w = net.blob_loss_weights.get(o, 0.0)
                vals = means[k:k + s.numel()]
                for v in vals:
                    extra = f" (* {log.fmt(w)} = {log.fmt(np.float32(w) * v)} loss)" if w else ""
                    log.info(f"    Test net output #{k}: {o} = {log.fmt(v)}{extra}", _SRC + "408")
                    k += 1
                scores[o] = vals.copy() if vals.size > 1 else float(vals[0])
        self.last_test_scores[test_net_id] = scores
        return scores

    # ------------------------------------------------------------------------------------------
    # the update
    def _ensure_history(self):
        """History tensors, ``num_history`` groups of one tensor per learnable parameter (Caffe's
        ``history_`` order)."""
        specs = self.net.param_specs
        if self._history is None or len(self._history[0]) != len(specs):
            self._history = [[torch.zeros(b.shape, dtype=torch.float32, device=b.tensor.device) for b, *_ in specs]
                             for _ in range(self.rule.num_history)]
        else:
            dev = specs[0][0].tensor.device if specs else None
            if specs and self._history[0][0].device != dev:
                self._history = [[h.to(dev) for h in g] for g in self._history]
        return self._history

    def _param_name(self, i):
        b, _, _, layer = self.net.param_specs[i]
        return f"{layer}[{i}]" if not b.name else b.name

    def _groups(self):
        """{(lr_mult, decay_mult): [param indices]} over the parameters that learn (lr_mult != 0)."""
        groups = {}
        for i, (_b, lr, decay, _n) in enumerate(self.net.param_specs):
            if lr != 0:
                groups.setdefault((lr, decay), []).append(i)
        return groups

    def _zero_grads(self):
        # Dropping the buffers (rather than zeroing them) lets autograd write the first gradient
        # instead of adding it to zeros: one pass less over every parameter per iteration.
        for b, *_ in self.net.param_specs:
            b.tensor.grad = None

    def _forward_backward(self):
        n = int(self.param.iter_size)
        total = None
        for _ in range(n):
            loss = self.net._forward_backward()
            if not torch.is_tensor(loss):
                loss = torch.tensor(float(loss))
            total = loss if total is None else total + loss
        if n > 1:
            total = total / n
        return total

    def get_learning_rate(self):
        rate, self.current_step, msg = learning_rate(self.param, self.iter, self.current_step)
        if msg:
            log.info(msg, "sgd_solver.cpp:55")
        return rate

    def apply_update(self, display=None) -> None:
        """Caffe's SGDSolver::ApplyUpdate on the accumulated gradients."""
        p = self.param
        if display is None:
            display = bool(p.display) and self.iter % p.display == 0
        rate = self.get_learning_rate()
        if display:
            log.info(f"Iteration {self.iter}, lr = {log.fmt(rate)}", "sgd_solver.cpp:106")
        specs = self.net.param_specs
        hist = self._ensure_history()
        groups = self._groups()
        if not groups:
            return
        active = [i for idx in groups.values() for i in idx]
        with torch.no_grad():
            grads = {}
            for i in active:
                b = specs[i][0]
                g = b.tensor.grad
                if g is None or getattr(b, "_grad_head_host", False):  # b.grad: a pycaffe edit of the diff on a GPU
                    g = b.grad
                grads[i] = g
            glist = [grads[i] for i in active]
            if distributed.is_parallel():
                distributed.all_reduce_mean_(glist)
            scale = 1.0 / p.iter_size if p.iter_size != 1 else None
            if p.clip_gradients >= 0:
                scale = self._clip(glist, scale, active, display)
            if scale is not None:
                torch._foreach_mul_(glist, scale)
            decay = float(np.float32(p.weight_decay))
            l1 = p.regularization_type == "L1"
            for (lr_mult, decay_mult), idx in groups.items():
                w = [specs[i][0].tensor for i in idx]
                g = [grads[i] for i in idx]
                local_decay = float(np.float32(decay * decay_mult))
                if local_decay:
                    if l1:
                        torch._foreach_add_(g, torch._foreach_sign(w), alpha=local_decay)
                    else:
                        torch._foreach_add_(g, w, alpha=local_decay)
                local_rate = float(np.float32(rate * lr_mult))
                h = [[hg[i] for i in idx] for hg in hist]
                self.rule.apply(w, g, h, local_rate, self.iter)

    def _clip(self, grads, scale, indices, display):
        clip = float(np.float32(self.param.clip_gradients))
        norms = torch.stack(torch._foreach_norm(grads))
        norm = torch.linalg.vector_norm(norms)
        if display or not self._lazy():
            self._warn_if_one_layer_dominates(norms, norm, clip, indices)
        if not self._lazy():
            n = float(norm)
            if n > clip:
                factor = clip / n
                log.info(f"Gradient clipping: scaling down gradients (L2 norm {log.fmt(n)} > {log.fmt(clip)}) by "
                         f"scale factor {log.fmt(factor)}", "sgd_solver.cpp:138")
                return factor if scale is None else factor * scale
            return scale
        factor = torch.clamp(clip / norm, max=1.0)
        return factor if scale is None else factor * scale

    # A layer holding this share of the squared gradient norm while clipping shrinks every step by at
    # least DOMINANCE_FACTOR sets every other layer's step by that one layer's loss: how a
    # too-heavy loss weight stalls the rest of the net.  Measured on paper 001's step-1 net with its
    # landmark loss weighted 10: fc8_landmarks held 99.7 % of a norm of 238 at iteration 0 (clip 10),
    # and the net collapsed within the first few iterations, after which the norms looked normal —
    # so the first occurrence is what is worth reporting, not a lasting pattern.
    DOMINANCE_SHARE = 0.9
    DOMINANCE_FACTOR = 5.0

    def _warn_if_one_layer_dominates(self, norms, norm, clip, indices):
        if self._dominance_warned:
            return
        n = float(norm)
        if not n > clip * self.DOMINANCE_FACTOR:
            return
        by_layer = {}
        for i, sq in zip(indices, (norms.double() ** 2).tolist()):
            layer = self.net.param_specs[i][3]
            by_layer[layer] = by_layer.get(layer, 0.0) + sq
        layer, sq = max(by_layer.items(), key=lambda kv: kv[1])
        share = sq / (n * n)
        if share < self.DOMINANCE_SHARE:
            return
        self._dominance_warned = True
        rest = max(n * n - sq, 0.0) ** 0.5
        log.warning(f"Iteration {self.iter}: gradient clipping is driven by one layer: '{layer}' holds "
                    f"{share:.1%} of the squared gradient norm ({log.fmt(sq ** 0.5)} of {log.fmt(n)}; all "
                    f"other layers together {log.fmt(rest)}), so clip_gradients {log.fmt(clip)} shrinks "
                    f"every layer's step {n / clip:.1f}x because of it. If the other losses stop "
                    f"falling after this, the loss feeding '{layer}' is weighted too heavily for this clip: "
                    f"lower its loss_weight. Warned once per solver.", "sgd_solver.cpp:138")

    # ------------------------------------------------------------------------------------------
    # losses, display, NaN
    def _lazy(self):
        if self.lazy_sync is not None:
            return bool(self.lazy_sync)
        return self.net.device.type != "cpu"

    def _smoothed(self):
        if not self._losses:
            return 0.0
        self.smoothed_loss = float(torch.stack([l.to(torch.float32) for l in self._losses]).mean())
        return self.smoothed_loss

    def _display(self):
        log.info(f"Iteration {self.iter}, loss = {log.fmt(self._smoothed())}", _SRC + "243")
        net = self.net
        k = 0
        for o in net.outputs:
            vals = net.blobs[o].tensor.detach().reshape(-1).cpu().numpy()
            w = net.blob_loss_weights.get(o, 0.0)
            for v in vals:
                extra = f" (* {log.fmt(w)} = {log.fmt(np.float32(w) * v)} loss)" if w else ""
                log.info(f"    Train net output #{k}: {o} = {log.fmt(v)}{extra}", _SRC + "259")
                k += 1

    def _check_finite(self, weights=False):
        pending, self._pending = self._pending, []
        if pending:
            vals = torch.stack([l.reshape(()).to(torch.float32) for _, l in pending])
            ok = torch.isfinite(vals)
            if not bool(ok.all()):
                j = int((~ok).nonzero()[0])
                it, v = pending[j][0], float(vals[j])
                self._requested_early_exit = True
                raise fail(f"Iteration {it}: the loss is {v} (not finite); training stopped. "
                           f"{self._last_good_note()}")
        if weights:
            params = [b.tensor for b, *_ in self.net.param_specs]
            if params:
                bad = [i for i, ok in enumerate(torch.stack([torch.isfinite(t).all() for t in params]).tolist())
                       if not ok]
                if bad:
                    self._requested_early_exit = True
                    raise fail(f"Iteration {self.iter}: parameter {self._param_name(bad[0])} holds NaN or inf after "
                               f"the update; training stopped and no snapshot was written. {self._last_good_note()}")

    def _last_good_note(self):
        if self._last_snapshot:
            return f"The last good snapshot is {self._last_snapshot}."
        return "No snapshot had been written yet."

    # ------------------------------------------------------------------------------------------
    # signals
    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        old = {}

        def handler(signum, frame):
            effect = self.sigint_effect if signum == signal.SIGINT else self.sighup_effect
            if signum == signal.SIGINT and any(s == signal.SIGINT for s, _ in self._signals):
                raise KeyboardInterrupt
            self._signals.append((signum, effect))

        for sig in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if sig is None:
                continue
            try:
                old[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
        return old

    def _remove_signals(self, old):
        for sig, h in (old or {}).items():
            try:
                signal.signal(sig, h)
            except (ValueError, OSError):
                pass
        self._signals.clear()

    def _requested_action(self, peek=False):
        if not self._signals:
            return None
        if peek:
            return self._signals[0][1]
        _sig, effect = self._signals.pop(0)
        return effect if effect in ("stop", "snapshot") else None

    def _sync_start(self):
        if self._synced or not distributed.is_parallel():
            return
        distributed.broadcast_([b.tensor for b, *_ in self.net.param_specs])
        self._synced = True

    def __repr__(self):
        return f"<{type(self).__name__} iter {self.iter} on net {self.net.name!r}>"


def _text(param):
    from google.protobuf import text_format

    return text_format.MessageToString(param)


class SGDSolver(Solver):
    type_name = "SGD"


class NesterovSolver(Solver):
    type_name = "Nesterov"


class AdaGradSolver(Solver):
    type_name = "AdaGrad"


class RMSPropSolver(Solver):
    type_name = "RMSProp"


class AdaDeltaSolver(Solver):
    type_name = "AdaDelta"


class AdamSolver(Solver):
    type_name = "Adam"


_CLASSES = {c.type_name: c for c in (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver, AdaDeltaSolver,
                                     AdamSolver)}


def get_solver(solver_file, overrides=None) -> Solver:
    """pycaffe's ``caffe.get_solver(path)``: the solver class named by the file's ``type``."""
    param, _ = read_solver(solver_file)
    name = param.type or "SGD"
    cls = _CLASSES.get(name)
    if cls is None:
        raise fail(f"Solver {solver_file if isinstance(solver_file, str) else ''}: unknown solver type '{name}'; "
                   f"known types are {', '.join(_CLASSES)}.")
    return cls(solver_file, overrides)


def run_training(job: dict) -> Solver:
    """What ``fashioncaffe train`` does in each process: build, fine-tune or resume, solve."""
    overrides = {}
    if job.get("iterations"):
        overrides["max_iter"] = int(job["iterations"])
    if job.get("snapshot_prefix"):
        overrides["snapshot_prefix"] = job["snapshot_prefix"]
    if job.get("weights"):
        if job.get("snapshot"):
            raise fail("Give a snapshot to resume training or weights to finetune but not both.")
        overrides["weights"] = [w for w in job["weights"].split(",") if w]
    if job.get("precision") or job.get("compile"):
        fastmodes.configure(precision=job.get("precision") or None, compile=job.get("compile") or None)
    solver = get_solver(job["solver"], overrides)
    for k in ("sigint_effect", "sighup_effect"):
        if job.get(k):
            setattr(solver, k, job[k])
    if job.get("snapshot"):
        log.info(f"Resuming from {job['snapshot']}", "caffe.cpp:250")
    log.info("Starting Optimization", "caffe.cpp:252")
    solver.solve(job.get("snapshot") or None)
    return solver


__all__ = ["Solver", "SGDSolver", "NesterovSolver", "AdaGradSolver", "RMSPropSolver", "AdaDeltaSolver",
           "AdamSolver", "get_solver", "run_training", "read_solver"]
