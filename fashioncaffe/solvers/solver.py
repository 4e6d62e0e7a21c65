"""Caffe's Solver (solver.cpp): the nets, the iteration loop, testing, display, snapshots.

One iteration, exactly as BVLC Caffe's ``Solver::Step``:

1. zero the parameter diffs; test first when ``iter % test_interval == 0`` (and ``iter > 0`` or
   ``test_initialization``);
2. ``iter_size`` forward/backward passes (parameter gradients accumulate; the reported loss is
   their mean), smoothed over the last ``average_loss`` iterations for display;
3. ``apply_update()`` — the subclass's (:mod:`.sgd_solver`: gradients summed over processes,
   clipped, normalised, regularised, the update rule);
4. ``iter += 1``; snapshot every ``snapshot`` iterations (:mod:`.snapshot`).

Host synchronisation: the loss is kept as a device tensor; it is read only for display, for the
smoothed loss, and for the non-finite check — every iteration on the CPU (free there), and on a GPU
at display iterations, before each snapshot, at the end of ``step`` and at least every
``NAN_CHECK_EVERY`` iterations.  A NaN or inf loss (or non-finite weights before a snapshot)
raises FashionCaffeError naming the iteration; no snapshot is written from then on.  A snapshot
counts as good only once the loss its weights gave when training went on from them was finite (so it
resumes: finite but exploded weights do not pass); the error names the last good snapshot, the good
one before it, and any snapshot not to resume from.  Snapshots are named by iteration and never
overwritten; ``<prefix>.lock`` (:mod:`.prefix_lock`) keeps a second training off the prefix.

Bad class labels found on a GPU are kept on the device by the loss layers (``defer_checks``) and
read at the same points as the loss.

Signals during ``solve()``: see :mod:`.signal_handler`.
"""
from __future__ import annotations

import collections
import os
import weakref

import numpy as np
import torch
from google.protobuf import text_format

from .. import distributed
from .. import fastmodes
from .. import logging_caffe as log
from .. import mode
from ..errors import FashionCaffeError, fail
from ..formats.weights import apply_weight_source, read_weight_source
from .param_checks import check_has_iterations, warn_dubious_settings
from .prefix_lock import PrefixLock
from .signal_handler import SignalHandler
from .snapshot import restore_snapshot, write_snapshot
from .solver_nets import SRC, build_test_nets, build_train_net, read_solver

NAN_CHECK_EVERY = 50   # on a GPU, the longest run of iterations between two non-finite checks


class Solver:
    """Caffe's Solver: everything but the update, which a subclass supplies with
    ``prepare_update()`` (checked before any net is built), ``apply_update(display)``,
    ``history_arrays()`` and ``load_history(arrays, state_file)`` (its snapshot state).
    """

    type_name: str | None = None   # the solver type a subclass implements (its registry name)

    def __init__(self, solver_file, overrides=None):
        param, path = read_solver(solver_file, overrides)
        self.param = param
        self.solver_file = path
        solver_dir = os.path.dirname(os.path.abspath(path)) if path else None
        self.type = self.type_name or param.type or "SGD"
        self.prepare_update()
        self.is_root = distributed.rank() == 0   # the process that tests, logs and snapshots
        log.info("Initializing solver from parameters: \n" + text_format.MessageToString(param), SRC + "48")
        self._check_param()
        if param.random_seed >= 0:
            seed = int(param.random_seed) + distributed.rank()
            mode.set_random_seed(seed)
            np.random.seed(seed % (2 ** 32))
        self.iter = 0
        self.current_step = 0
        self._losses = collections.deque(maxlen=max(1, int(param.average_loss)))
        self._pending = []           # (iteration, loss tensor) not yet checked for NaN/inf
        self.smoothed_loss = 0.0
        self._requested_early_exit = False
        self.signals = SignalHandler(self)
        self.sigint_effect = "stop"
        self.sighup_effect = "snapshot"
        self._callbacks = []
        #: the newest snapshot written; the newest one *verified* good (its weights gave a finite loss at
        #: the next iteration, so it resumes) and the verified one before it
        self.last_snapshot = None
        self.last_good_snapshot = None
        self.previous_good_snapshot = None
        self._unverified = []       # (iteration, solver-state path) not yet followed by a checked loss
        self._bad_snapshots = []    # written from weights whose very next loss was not finite
        self._synced = False
        self.last_test_scores = {}
        #: the fast mode the nets run in (set by fastmodes.activate_solver at each step)
        self.active_fast_mode = None
        #: None: read device values only where needed on a GPU, eagerly on the CPU; True/False forces it
        self.lazy_sync = None
        self.net = build_train_net(param, solver_dir)
        self.test_nets = build_test_nets(param, solver_dir, self.net) if self.is_root else []
        weights = list(param.weights)
        if weights:
            self.copy_weights(weights)
        self._check_snapshot_permissions()
        warn_dubious_settings(self)
        self._prefix_lock = PrefixLock(param.snapshot_prefix) if self.is_root and param.snapshot_prefix else None
        if self._prefix_lock is not None:
            weakref.finalize(self, self._prefix_lock.release)
        log.info("Solver scaffolding done.", SRC + "66")

    # ------------------------------------------------------------------------------------------
    # what a subclass supplies
    def prepare_update(self) -> None:
        raise NotImplementedError

    def apply_update(self, display=None) -> None:
        raise NotImplementedError

    def history_arrays(self) -> list:
        raise NotImplementedError

    def load_history(self, arrays, state_file) -> None:
        raise NotImplementedError

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

    def _check_snapshot_permissions(self):
        if not (self.is_root and self.param.snapshot):
            return
        folder = os.path.dirname(os.path.abspath(self.param.snapshot_prefix + "_iter_0"))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise fail(f"Cannot write to snapshot prefix '{self.param.snapshot_prefix}': folder {folder} does not "
                       "exist or is not writable. Make sure that it exists and is writable.")

    def _hold_prefix(self):
        """Take the snapshot prefix's lock (refused while another process trains with it)."""
        lock = self._prefix_lock
        if lock is not None and not lock.held and os.path.isdir(os.path.dirname(os.path.abspath(lock.prefix))):
            lock.acquire()

    def copy_weights(self, paths):
        """Fine-tune from weights (Caffe's CopyLayers): into the train net and every test net."""
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
        stop_iter = self.iter + int(iters)
        self._losses = collections.deque(maxlen=max(1, int(p.average_loss)))
        self.smoothed_loss = 0.0
        if p.snapshot:
            self._hold_prefix()
        self._sync_start()
        fastmodes.activate_solver(self)  # opt-in bf16/tf32/compile; the default leaves the nets as built
        cpu = not self._lazy()
        self._set_deferred_checks(not cpu)   # on a GPU, bad labels are read back at the checks below
        while self.iter < stop_iter:
            self._zero_grads()
            if p.test_interval and self.iter % p.test_interval == 0 and (self.iter > 0 or p.test_initialization):
                if self.is_root:
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
                self.check_finite()
            if display:
                self._display()
            for cb in self._callbacks:
                cb[1]()
            self.apply_update(display)
            self.iter += 1
            request = self.signals.requested_action()
            if (p.snapshot and self.iter % p.snapshot == 0 and self.is_root) or request == "snapshot":
                self.snapshot()
            if request == "stop":
                self._requested_early_exit = True
                break
        self.check_finite()
        self._set_deferred_checks(False)   # outside step (pycaffe forward) bad input is reported at once

    def solve(self, resume_file=None) -> None:
        """Train to ``max_iter`` (Caffe's Solver::Solve), optionally restoring a snapshot first."""
        p = self.param
        log.info(f"Solving {self.net.name}", SRC + "288")
        log.info(f"Learning Rate Policy: {p.lr_policy}", SRC + "289")
        self._requested_early_exit = False
        self._hold_prefix()
        try:
            self._solve(resume_file)
        finally:
            if self._prefix_lock is not None:
                self._prefix_lock.release()

    def _solve(self, resume_file):
        p = self.param
        if resume_file:
            log.info(f"Restoring previous solver status from {resume_file}", SRC + "295")
            self.restore(resume_file)
        check_has_iterations(self, resume_file)
        self.signals.install()
        try:
            self.step(p.max_iter - self.iter)
        finally:
            self.signals.remove()
        if p.snapshot_after_train and (not p.snapshot or self.iter % p.snapshot != 0) and self.is_root:
            self.snapshot()
        if self._requested_early_exit:
            log.info("Optimization stopped early.", SRC + "312")
            return
        if p.display and self.iter % p.display == 0:
            with torch.no_grad():
                loss = self.net.forward_from_to(grad=False)
            loss = torch.zeros(()) if loss is None else loss.detach()
            self._losses.append(loss)
            self._pending.append((self.iter, loss))
            self.check_finite()
            log.info(f"Iteration {self.iter}, loss = {log.fmt(self._smoothed())}", SRC + "325")
        if p.test_interval and self.iter % p.test_interval == 0 and self.is_root:
            self.test_all()
        log.info("Optimization Done.", SRC + "331")

    def restore(self, state_file) -> None:
        """Restore a ``.solverstate`` (binary) or ``.solverstate.h5`` snapshot."""
        restore_snapshot(self, state_file)
        self._pending.clear()
        self._unverified.append((self.iter, os.fspath(state_file)))

    def snapshot(self) -> None:
        """Write ``<prefix>_iter_<N>.caffemodel`` + ``.solverstate`` (or the ``.h5`` pair)."""
        if not self.is_root:
            return
        self._hold_prefix()
        self.last_snapshot = write_snapshot(self)
        self._unverified.append((self.iter, self.last_snapshot))

    def add_callback(self, on_start, on_gradients_ready=None):
        """pycaffe's ``solver.add_callback(on_start, on_gradients_ready)``: called at each iteration's
        start and before the update.  (An ``NCCL`` object alone, which pycaffe also accepts, does
        nothing: see :mod:`fashioncaffe.pycaffe_runtime`.)"""
        from ..pycaffe_runtime import NCCL

        if on_gradients_ready is None and isinstance(on_start, NCCL):
            return
        if not (callable(on_start) and callable(on_gradients_ready)):
            raise fail("solver.add_callback(on_start, on_gradients_ready) takes two callables.", like=TypeError)
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
        log.info(f"Iteration {self.iter}, Testing net (#{test_net_id})", SRC + "349")
        net = self.test_nets[test_net_id]
        n_iter = int(p.test_iter[test_net_id])
        outputs = net.outputs
        sums = None
        loss_sum = None
        with torch.no_grad():
            for _ in range(n_iter):
                if self.signals.requested_action(peek=True) == "stop":
                    self._requested_early_exit = True
                    break
                loss = net.forward_from_to(grad=False)
                vals = [net.blobs[o].tensor.detach().reshape(-1).to(torch.float32) for o in outputs]
                if sums is None:
                    sums = [v.clone() for v in vals]
                else:
                    torch._foreach_add_(sums, vals)
                if p.test_compute_loss and loss is not None:
                    loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
        self._raise_deferred(net, f"Iteration {self.iter}, testing net #{test_net_id}")
        if self._requested_early_exit:
            log.info("Test interrupted.", SRC + "391")
            return {}
        if p.test_compute_loss:
            tl = 0.0 if loss_sum is None else float(loss_sum) / n_iter
            log.info(f"Test loss: {log.fmt(tl)}", SRC + "395")
        scores = {}
        if sums:
            means = (torch.cat(sums) / float(n_iter)).cpu().numpy()
            k = 0
            for o, s in zip(outputs, sums):
                w = net.blob_loss_weights.get(o, 0.0)
                vals = means[k:k + s.numel()]
                for v in vals:
                    extra = f" (* {log.fmt(w)} = {log.fmt(np.float32(w) * v)} loss)" if w else ""
                    log.info(f"    Test net output #{k}: {o} = {log.fmt(v)}{extra}", SRC + "408")
                    k += 1
                scores[o] = vals.copy() if vals.size > 1 else float(vals[0])
        self.last_test_scores[test_net_id] = scores
        return scores

    # ------------------------------------------------------------------------------------------
    # the passes
    def _zero_grads(self):
        for b, *_ in self.net.param_specs:
            b.release_grad()

    def _forward_backward(self):
        n = int(self.param.iter_size)
        total = None
        for _ in range(n):
            try:
                loss = self.net.forward_backward()
            except FashionCaffeError as e:
                self._requested_early_exit = True
                raise fail(f"Iteration {self.iter}, train net: {e}") from None
            if not torch.is_tensor(loss):
                loss = torch.tensor(float(loss))
            total = loss if total is None else total + loss
        if n > 1:
            total = total / n
        return total

    def param_name(self, i):
        """How logs name learnable parameter ``i`` (``layer[index]``)."""
        b, _, _, layer = self.net.param_specs[i]
        return f"{layer}[{i}]" if not b.name else b.name

    def _sync_start(self):
        if self._synced or not distributed.is_parallel():
            return
        distributed.broadcast_([b.tensor for b, *_ in self.net.param_specs])
        self._synced = True

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
        log.info(f"Iteration {self.iter}, loss = {log.fmt(self._smoothed())}", SRC + "243")
        net = self.net
        k = 0
        for o in net.outputs:
            vals = net.blobs[o].tensor.detach().reshape(-1).cpu().numpy()
            w = net.blob_loss_weights.get(o, 0.0)
            for v in vals:
                extra = f" (* {log.fmt(w)} = {log.fmt(np.float32(w) * v)} loss)" if w else ""
                log.info(f"    Train net output #{k}: {o} = {log.fmt(v)}{extra}", SRC + "259")
                k += 1

    def check_finite(self, weights=False):
        """Raise (and stop training) when a loss not yet checked, or with ``weights`` a parameter,
        is NaN or inf."""
        pending, self._pending = self._pending, []
        if pending and self._lazy():
            self._raise_deferred(self.net, f"Iterations {pending[0][0]}..{pending[-1][0]}, train net")
        if pending:
            vals = torch.stack([l.reshape(()).to(torch.float32) for _, l in pending])
            ok = torch.isfinite(vals)
            bad_iter = None
            if not bool(ok.all()):
                j = int((~ok).nonzero()[0])
                bad_iter, v = pending[j][0], float(vals[j])
            self._verify_snapshots([it for it, _ in pending], bad_iter)
            if bad_iter is not None:
                self._requested_early_exit = True
                raise fail(f"Iteration {bad_iter}: the loss is {v} (not finite); training stopped. "
                           f"{self._last_good_note()}")
        if weights:
            params = [b.tensor for b, *_ in self.net.param_specs]
            if params:
                bad = [i for i, ok in enumerate(torch.stack([torch.isfinite(t).all() for t in params]).tolist())
                       if not ok]
                if bad:
                    self._requested_early_exit = True
                    raise fail(f"Iteration {self.iter}: parameter {self.param_name(bad[0])} holds NaN or inf after "
                               f"the update; training stopped and no snapshot was written. {self._last_good_note()}")

    def _set_deferred_checks(self, on: bool) -> None:
        for net in [self.net, *self.test_nets]:
            for layer in net.engine_layers:
                layer.defer_checks = on

    def _raise_deferred(self, net, where):
        """Raise the first bad-input message a layer kept on the device (see ``Layer.defer_checks``)."""
        for layer in net.engine_layers:
            msg = layer.take_deferred_error()
            if msg:
                self._requested_early_exit = True
                raise fail(f"{where}: {msg} Training stopped; no snapshot was written from these iterations.")

    def _verify_snapshots(self, checked_iters, bad_iter):
        """A snapshot is good once the loss its weights gave at the next iteration was finite (so it
        resumes); one whose very next loss was not finite is bad, whatever its weights' values."""
        still = []
        for s_iter, path in self._unverified:
            finite_after = any(it >= s_iter and (bad_iter is None or it < bad_iter) for it in checked_iters)
            if finite_after:
                if path != self.last_good_snapshot:
                    self.previous_good_snapshot, self.last_good_snapshot = self.last_good_snapshot, path
            elif bad_iter is not None and bad_iter >= s_iter:
                self._bad_snapshots.append(path)
            else:
                still.append((s_iter, path))
        self._unverified = still

    def _last_good_note(self):
        parts = []
        if self.last_good_snapshot:
            parts.append(f"The last good snapshot is {self.last_good_snapshot} (training went on from its weights with "
                         "a finite loss, so it resumes)")
            if self.previous_good_snapshot:
                parts.append(f"the good one before it is {self.previous_good_snapshot}")
        else:
            parts.append("No snapshot verified as good had been written")
        note = "; ".join(parts) + "."
        if self._bad_snapshots:
            note += (f" Do not resume from {', '.join(self._bad_snapshots)}: its weights gave a non-finite loss at "
                     "once.")
        return note

    def __repr__(self):
        return f"<{type(self).__name__} iter {self.iter} on net {self.net.name!r}>"
