"""onnxruntime vs the engine's eager inference, same net, same device, same batch: images/s.

    python tools/benchmark_onnx.py [--nets bvlc_alexnet,bvlc_googlenet,resnet50] [--batch 16]
                                   [--iters 10] [--threads N] [--device cpu|cuda] [--size S]

Each zoo deploy net gets random weights (the numbers do not change the speed), is exported with
``fashioncaffe.onnx.export_net`` and run by onnxruntime (CPU provider, or CUDA with --device cuda
when onnxruntime-gpu is installed) and by the engine (``torch.no_grad`` forward through the Net, no
per-blob gradients).  Both use the same number of threads on the CPU.  Goal: onnxruntime ≥ 0.9× the
engine's images/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _bench(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="bvlc_alexnet,bvlc_googlenet,resnet50")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for both (default: torch's)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--size", type=int, default=0, help="input size override (default: the net's own)")
    a = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    import fashioncaffe as caffe
    from fashioncaffe.onnx import export_net
    from fashioncaffe.onnx.testing import fill_random, with_input_size
    from fashioncaffe.prototxt import read_net_param

    threads = a.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    if a.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device visible to PyTorch")
        caffe.set_mode_gpu()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            sys.exit("--device cuda: onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
    else:
        caffe.set_mode_cpu()
        providers = ["CPUExecutionProvider"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    print(f"device {a.device}, threads {threads}, batch {a.batch}, iters {a.iters}, torch {torch.__version__}, "
          f"onnxruntime {ort.__version__}")
    print(f"{'net':<26}{'input':>12}{'engine img/s':>15}{'onnxruntime img/s':>19}{'ratio':>8}  goal ≥ 0.9")
    for name in [n for n in a.nets.split(",") if n]:
        path = os.path.join(root, "prototxt", "zoo", name, "deploy.prototxt")
        param = with_input_size(read_net_param(path), a.batch, a.size or None)
        net = caffe.Net(param, caffe.TEST)
        fill_random(net, 0)
        model = export_net(net, check=False)
        inp = net.inputs[0]
        shape = tuple(net.blobs[inp].shape)
        x = (np.random.RandomState(0).randn(*shape) * 30).astype(np.float32)
        net.blobs[inp].data[...] = x
        cuda = a.device == "cuda"

        def engine():
            with torch.no_grad():
                net.forward_from_to(grad=False)
                out = net.blobs[net.outputs[0]].tensor
                if cuda:
                    torch.cuda.synchronize()
                return out

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if not cuda:
            opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=providers)

        def onnxrt():
            return sess.run(None, {inp: x})

        te = _bench(engine, a.warmup, a.iters)
        to = _bench(onnxrt, a.warmup, a.iters)
        ie, io = a.batch / te, a.batch / to
        print(f"{name:<26}{'x'.join(map(str, shape[1:])):>12}{ie:>15.1f}{io:>19.1f}{io / ie:>8.2f}  "
              f"{'ok' if io / ie >= 0.9 else 'BELOW'}   ({sess.get_providers()[0]})")
        del net, sess, model


if __name__ == "__main__":
    main()
