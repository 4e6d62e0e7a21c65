"""Opt-in fast modes: bf16 autocast, TF32 math, and ``torch.compile`` of the forward schedule.

Faithful first: the default is float32 with Caffe's formulas, and nothing here changes the
default numbers.  A net runs in a fast mode only when one is asked for:

* ``fashioncaffe train|test|time ... --precision fp32|bf16|tf32 [--compile]``;
* ``fashioncaffe.fastmodes.configure(precision=..., compile=...)`` (process-wide);
* ``solver.precision = "bf16"`` / ``solver.compile = True`` on one solver (wins over configure).

Modes:

``fp32``  (default) float32 everywhere.  On a CUDA device this also turns TF32 *off* for matmuls
          and cuDNN convolutions (PyTorch enables TF32 convolutions by default, which Caffe never
          used), so GPU numbers are float32 numbers.
``bf16``  each layer's forward runs under ``torch.autocast(dtype=torch.bfloat16)``: convolutions
          and matrix products compute in bfloat16.  Every top is stored back as float32, so blobs,
          pycaffe views, Python layers and gradients stay float32; loss layers and Python layers run
          outside autocast on float32 inputs, the net's loss is summed in float32, and the solver's
          update (history, weight decay, clipping) is untouched float32.  Works on CPU and CUDA.
``tf32``  ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` on:
          float32 storage, TensorFloat-32 products on Ampere-or-newer GPUs.  On the CPU it has no
          effect (TF32 is an NVIDIA tensor-core format); the log says so.
``compile`` (with any precision) the layers after the net's data/input layers run as one
          ``torch.compile``-d function (inductor by default).  Python layers inside it become graph
          breaks.  When compiling is impossible (no C/C++ compiler for the CPU backend, no Triton
          for CUDA, a dynamo/backend error) a warning names the reason and the net runs eagerly.

A fast mode is a :class:`fashioncaffe.net.Executor` installed with ``net.set_executor``: the net's
own forward loop (``Net.forward_from_to``) runs it, the default executor is never modified, and
:func:`apply` with the default mode puts the default back.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, replace

import torch

from . import logging_caffe as log
from .errors import fail
from .schedule import Executor
from .pylayer import PythonLayer

__all__ = ["PRECISIONS", "FastMode", "FastExecutor", "configure", "current", "reset", "resolve", "apply",
           "remove", "activate_solver", "set_tf32", "describe", "timing_context"]

PRECISIONS = ("fp32", "bf16", "tf32")


@dataclass(frozen=True)
class FastMode:
    precision: str = "fp32"
    compile: bool = False
    compile_backend: object = "inductor"   # a torch.compile backend name or callable

    @property
    def is_default(self) -> bool:
        return self.precision == "fp32" and not self.compile


_DEFAULT = FastMode()
_global = _DEFAULT


def _check_precision(p):
    p = str(p).lower()
    if p in ("float32", "fp32", "float"):
        p = "fp32"
    elif p in ("bfloat16", "bf16"):
        p = "bf16"
    if p not in PRECISIONS:
        raise fail(f"precision '{p}' is not known; choose one of {', '.join(PRECISIONS)} "
                   "(fp32 is Caffe-faithful float32, the default).")
    return p


def configure(precision=None, compile=None, compile_backend=None) -> FastMode:
    """Set the process-wide mode (arguments left as None keep their value); returns it."""
    global _global
    m = _global
    if precision is not None:
        m = replace(m, precision=_check_precision(precision))
    if compile is not None:
        m = replace(m, compile=bool(compile))
    if compile_backend is not None:  # a torch.compile backend name (or a backend callable)
        m = replace(m, compile_backend=compile_backend if callable(compile_backend) else str(compile_backend))
    _global = m
    return m


def current() -> FastMode:
    return _global


def reset() -> None:
    """Back to the default (fp32, eager)."""
    global _global
    _global = _DEFAULT


def resolve(solver=None) -> FastMode:
    """The mode for ``solver``: its ``precision`` / ``compile`` / ``compile_backend`` attributes when
    set, else the process-wide one."""
    m = _global
    if solver is not None:
        p = getattr(solver, "precision", None)
        c = getattr(solver, "compile", None)
        b = getattr(solver, "compile_backend", None)
        if p is not None:
            m = replace(m, precision=_check_precision(p))
        if c is not None:
            m = replace(m, compile=bool(c))
        if b is not None:
            m = replace(m, compile_backend=b if callable(b) else str(b))
    return m


def describe(m: FastMode, device) -> str:
    device = torch.device(device)
    if m.precision == "fp32":
        text = "fp32 (Caffe-faithful float32"
        text += ", TF32 off)" if device.type == "cuda" else ")"
    elif m.precision == "bf16":
        text = f"bf16 (torch.autocast bfloat16 on {device.type} for layer forwards; blobs, losses and the " \
               "solver update stay float32)"
    else:
        text = "tf32 (TensorFloat-32 matmuls and cuDNN convolutions)" if device.type == "cuda" else \
            "tf32 requested, but TF32 is a CUDA tensor-core mode: no effect on the CPU, running float32"
    backend = getattr(m.compile_backend, "__name__", m.compile_backend)
    text += f", compiled with torch.compile (backend {backend})" if m.compile else ", eager"
    return text


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions on/off (harmless without CUDA)."""
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    torch.backends.cudnn.allow_tf32 = bool(enabled)


def _prepare_device(m: FastMode, device) -> None:
    if torch.device(device).type == "cuda":
        set_tf32(m.precision == "tf32")


# ----------------------------------------------------------------------------------------------
# the executor
def _f32(ts):
    return [t.float() if t.is_floating_point() and t.dtype != torch.float32 else t for t in ts]


class FastExecutor(Executor):
    """Runs a net's layers in a fast mode: each layer in the mode's autocast context with its tops
    cast back to float32; with ``compile``, the part of the schedule after the leading source
    steps (inputs, data layers) as one ``torch.compile``-d :meth:`Net.run_segment`."""

    def __init__(self, net, m: FastMode):
        self.mode = m
        self.device_type = net.device.type
        # loss layers and Python (host numpy) layers run outside autocast on float32 inputs
        loss_slots = {s for s, _ in net.loss_terms}
        self._fp32_steps = {step.index for step in net.schedule
                            if step.layer.is_loss or any(s in loss_slots for s in step.tops)
                            or isinstance(step.layer, PythonLayer)}
        # source steps (inputs, data layers): run eagerly before the compiled part
        self._n_source = 0
        for step in net.schedule:
            if step.layer.feeds_from_blob or not step.bottoms:
                self._n_source += 1
            else:
                break
        self.compiled = None
        if m.compile:
            reason = _compile_unavailable(m, net.device)
            if reason:
                log.warning(f"--compile: {reason}; running the net eagerly.", "fastmodes.py:0")
            else:
                self.compiled = torch.compile(
                    lambda k0, k1, inputs: net.run_segment(k0, k1, inputs, self.run_layer),
                    backend=m.compile_backend, dynamic=False)

    def run_layer(self, step, bottoms):
        if self.mode.precision == "bf16":
            if step.index in self._fp32_steps:
                with torch.autocast(device_type=self.device_type, enabled=False):
                    return _f32(step.layer.forward(_f32(bottoms)))
            with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16):
                outs = step.layer.forward(bottoms)
            return _f32(outs)
        return step.layer.forward(bottoms)

    def fused_from(self, start, end):
        return end + 1 if self.compiled is None else self._n_source

    def run_fused(self, net, k0, k1, inputs):
        if self.compiled is not None:
            try:
                return self.compiled(k0, k1, inputs)
            except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
                if not _is_compile_error(e):
                    raise
                log.warning(f"--compile: torch.compile failed ({type(e).__name__}: {str(e).splitlines()[0][:300]}); "
                            "running the net eagerly from now on.", "fastmodes.py:0")
                self.compiled = None
        return net.run_segment(k0, k1, inputs, self.run_layer)


def _is_compile_error(e) -> bool:
    try:
        import torch._dynamo.exc as dexc

        kinds = tuple(k for k in (getattr(dexc, "BackendCompilerFailed", None), getattr(dexc, "TorchRuntimeError", None),
                                  getattr(dexc, "InternalTorchDynamoError", None), getattr(dexc, "Unsupported", None))
                      if k is not None)
        if kinds and isinstance(e, kinds):
            return True
    except Exception:  # noqa: BLE001
        pass
    mod = type(e).__module__ or ""
    return mod.startswith(("torch._dynamo", "torch._inductor", "torch._functorch", "triton"))


def _compile_unavailable(m: FastMode, device) -> str | None:
    """Why torch.compile cannot work here (None when it can be tried)."""
    try:
        import torch._dynamo as dynamo
    except Exception as e:  # noqa: BLE001
        return f"torch._dynamo cannot be imported ({e})"
    if not dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python/PyTorch build"
    if m.compile_backend == "inductor":
        if torch.device(device).type == "cpu":
            cxx = os.environ.get("CXX") or "g++"
            if not (shutil.which(cxx) or shutil.which("c++") or shutil.which("clang++")):
                return "the inductor backend needs a C++ compiler on the CPU and none was found (set CXX or " \
                       "install g++)"
        else:
            try:
                import triton  # noqa: F401
            except Exception:  # noqa: BLE001
                return "the inductor backend needs Triton on CUDA and it is not installed"
    return None


# ----------------------------------------------------------------------------------------------
# installing a mode on nets and solvers
def apply(net, m: FastMode | None = None) -> FastMode:
    """Run ``net`` in mode ``m`` (default: the process-wide mode); the default mode restores the
    net's own executor.  Returns the mode applied."""
    m = current() if m is None else m
    _prepare_device(m, net.device)
    if m.is_default:
        remove(net)
        return m
    if isinstance(net.executor, FastExecutor) and net.executor.mode == m:
        return m
    net.set_executor(FastExecutor(net, m))
    return m


def remove(net) -> None:
    net.set_executor(None)


def activate_solver(solver) -> FastMode:
    """Solver hook (start of ``step``): put the train and test nets in the solver's mode and log it
    once per change."""
    m = resolve(solver)
    if solver.active_fast_mode == m:
        return m
    for net in [solver.net] + list(solver.test_nets):
        apply(net, m)
    log.info(f"Compute mode: {describe(m, solver.net.device)}", "fastmodes.py:0")
    solver.active_fast_mode = m
    return m


@contextlib.contextmanager
def timing_context(m: FastMode, device):
    """Autocast for ``fashioncaffe time``'s per-layer passes (bf16); nothing otherwise."""
    if m.precision == "bf16":
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            yield
    else:
        yield
