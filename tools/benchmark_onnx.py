"""onnxruntime vs the engine's eager inference, same net, same device, same batch: images/s.

    python tools/benchmark_onnx.py [--nets bvlc_alexnet,bvlc_googlenet,resnet50] [--batch 16]
                                   [--iters 10] [--threads N] [--device cpu|cuda] [--size S]

Each zoo deploy net gets random weights (the numbers do not change the speed), is exported with
``fashioncaffe.onnx.export_net`` and run by onnxruntime (CPU provider, or CUDA with --device cuda
when onnxruntime-gpu is installed) and by the engine (``torch.no_grad`` forward through the Net, no
per-blob gradients).  Both use the same number of threads on the CPU.  On CUDA both keep input and
output on the device (onnxruntime through an IOBinding of device OrtValues), so neither side pays a
host copy the other does not.  Goal: onnxruntime ≥ 0.9× the engine's images/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GOAL = 0.9


class NoCudaProvider(RuntimeError):
    """onnxruntime here has no CUDAExecutionProvider."""


def _bench(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def measure(nets, batch=16, iters=10, warmup=2, device="cpu", size=0, threads=0):
    """One row per net: input shape, engine and onnxruntime images/s, their ratio, the provider used."""
    import onnxruntime as ort
    import torch

    import fashioncaffe as caffe
    from fashioncaffe.onnx import export_net
    from fashioncaffe.onnx.testing import fill_random, with_input_size
    from fashioncaffe.prototxt import read_net_param

    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    cuda = device == "cuda"
    if cuda:
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise NoCudaProvider("onnxruntime has no CUDAExecutionProvider (providers: "
                                 f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu")
        caffe.set_mode_gpu()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        caffe.set_mode_cpu()
        providers = ["CPUExecutionProvider"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for name in nets:
        path = os.path.join(root, "prototxt", "zoo", name, "deploy.prototxt")
        param = with_input_size(read_net_param(path), batch, size or None)
        net = caffe.Net(param, caffe.TEST)
        fill_random(net, 0)
        model = export_net(net, check=False)
        inp = net.inputs[0]
        shape = tuple(net.blobs[inp].shape)
        x = (np.random.RandomState(0).randn(*shape) * 30).astype(np.float32)
        net.blobs[inp].data[...] = x

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
        if cuda:
            binding = sess.io_binding()
            binding.bind_ortvalue_input(inp, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
            for o in sess.get_outputs():
                binding.bind_output(o.name, "cuda")

            def onnxrt():
                sess.run_with_iobinding(binding)
                binding.synchronize_outputs()
        else:
            def onnxrt():
                return sess.run(None, {inp: x})

        te = _bench(engine, warmup, iters)
        to = _bench(onnxrt, warmup, iters)
        rows.append({"net": name, "input": "x".join(map(str, shape)), "engine_ips": batch / te,
                     "onnxruntime_ips": batch / to, "ratio": te / to, "provider": sess.get_providers()[0]})
    return rows


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

    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device visible to PyTorch")
    print(f"device {a.device}, threads {a.threads or torch.get_num_threads()}, batch {a.batch}, iters {a.iters}, "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}")
    try:
        rows = measure([n for n in a.nets.split(",") if n], a.batch, a.iters, a.warmup, a.device, a.size, a.threads)
    except NoCudaProvider as e:
        sys.exit(f"--device cuda: {e}")
    print(f"{'net':<26}{'input':>12}{'engine img/s':>15}{'onnxruntime img/s':>19}{'ratio':>8}  goal ≥ {GOAL}")
    for r in rows:
        print(f"{r['net']:<26}{r['input']:>12}{r['engine_ips']:>15.1f}{r['onnxruntime_ips']:>19.1f}{r['ratio']:>8.2f}  "
              f"{'ok' if r['ratio'] >= GOAL else 'BELOW'}   ({r['provider']})")


if __name__ == "__main__":
    main()
