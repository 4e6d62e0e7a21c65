"""Helpers shared by the ONNX tests and ``tools/benchmark_onnx.py``: random weights, resized inputs,
and the engine-vs-onnxruntime comparison."""
from __future__ import annotations

import numpy as np
import torch

from ..proto import caffe_pb2


def with_input_size(param, batch=None, size=None):
    """Copy of a (V2) NetParameter whose Input layers get batch ``batch`` and spatial ``size``."""
    from ..upgrade import upgrade_net

    out = upgrade_net(param)
    for lp in out.layer:
        if lp.type == "Input":
            for s in lp.input_param.shape:
                d = list(s.dim)
                if batch is not None:
                    d[0] = batch
                if size is not None and len(d) == 4:
                    d[2] = d[3] = size
                del s.dim[:]
                s.dim.extend(d)
    return out


def fill_random(net, seed=0):
    """Gaussian weights with std √(1/fan_in) (biases N(0, 0.1²)); BatchNorm mean sums N(0, 0.1²),
    variance sums positive (0.5 … 1.5), factor 1; Scale γ ~ N(1, 0.1²), β ~ N(0, 0.1²); PReLU 0.25 ± 0.1."""
    gen = torch.Generator().manual_seed(seed)

    def randn(shape):
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    for lname, blobs in net.params.items():
        layer = net.layer_dict[lname]
        ltype = getattr(layer, "type", "")
        with torch.no_grad():
            for i, b in enumerate(blobs):
                shape = tuple(b.shape)
                if ltype == "BatchNorm":
                    if i == 0:
                        v = randn(shape) * 0.1
                    elif i == 1:
                        v = 0.5 + torch.rand(shape, generator=gen)
                    else:
                        v = torch.ones(shape)
                elif ltype == "Scale":
                    v = (1.0 if i == 0 else 0.0) + 0.1 * randn(shape)
                elif ltype == "PReLU":
                    v = 0.25 + 0.1 * randn(shape)
                elif len(shape) <= 1:
                    v = 0.1 * randn(shape)
                else:
                    fan_in = int(np.prod(shape[1:]))
                    if ltype == "Deconvolution":
                        fan_in = int(shape[0] * np.prod(shape[2:]))
                    if ltype == "InnerProduct" and getattr(layer, "transpose", False):
                        fan_in = shape[0]
                    v = randn(shape) * float(np.sqrt(1.0 / max(fan_in, 1)))
                b.data[...] = v.numpy().reshape(b.data.shape)
    return net


def engine_forward(net, inputs):
    """Engine outputs {name: array} for ``inputs`` {blob: array} (reshaping the inputs' batch)."""
    for k, v in inputs.items():
        if tuple(net.blobs[k].shape) != tuple(v.shape):
            net.blobs[k].reshape(v.shape)
    if any(tuple(net.blobs[k].shape) != tuple(v.shape) for k, v in inputs.items()) or True:
        net.reshape()
    with torch.no_grad():
        out = net.forward(**inputs)
    return {k: np.array(v, copy=True) for k, v in out.items()}


def ort_session(model_or_path, threads=None, provider="CPUExecutionProvider"):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    src = model_or_path if isinstance(model_or_path, (str, bytes)) else model_or_path.SerializeToString()
    return ort.InferenceSession(src, sess_options=opts, providers=[provider])


def rel_error(a, b):
    """max |a − b| / max |b| (the comparison the export tests bound by 1e-4)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    denom = max(float(np.abs(b).max()) if b.size else 0.0, 1e-12)
    return float(np.abs(a - b).max()) / denom if a.size else 0.0


def deploy_param(param_or_path):
    from ..prototxt import read_net_param

    if isinstance(param_or_path, caffe_pb2.NetParameter):
        return param_or_path
    return read_net_param(param_or_path)


def check_agreement(onnx_outputs, engine_outputs, tol=1e-4):
    """``{output: rel_error}`` over the outputs onnxruntime and the engine both produced.  Raises
    AssertionError when they share none (nothing was compared) or when any differs by more than
    ``tol`` (relative to the engine's largest value), naming the outputs."""
    shared = [k for k in onnx_outputs if k in engine_outputs]
    if not shared:
        raise AssertionError(f"nothing compared: onnxruntime's outputs ({', '.join(onnx_outputs) or 'none'}) and the "
                             f"engine's ({', '.join(engine_outputs) or 'none'}) have no name in common")
    errors = {k: rel_error(onnx_outputs[k], engine_outputs[k]) for k in shared}
    bad = {k: e for k, e in errors.items() if not e <= tol}
    if bad:
        worst = ", ".join(f"{k} {e:.2e}" for k, e in sorted(bad.items(), key=lambda kv: -kv[1])[:5])
        raise AssertionError(f"onnxruntime and the engine differ by more than {tol:g} (relative) on {len(bad)} of "
                             f"{len(shared)} outputs: {worst}")
    return errors
