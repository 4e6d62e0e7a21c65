"""The machine and its packages; on a GPU run, installs the optional packages the check uses.

Optional packages: ``faiss`` (faiss-cpu: exact search beside the engine's k-NN), ``torchvision`` (GPU
JPEG decoding, at the version that pairs with the installed torch: 0.(minor + 15)).  They are
installed with pip where pip reaches an index (quick to give up where none is reachable, as on the
lent GPU machines, which get them as carried wheels instead: docs/GPU_CHECK.md); an install whose
import then fails is removed again.  onnxruntime-gpu is never installed here: it replaces the
onnxruntime package (a different distribution of the same module) and is a few hundred MB.
"""
from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys

TITLE = "environment: versions, the GPU, optional packages"

MODULES = ["numpy", "cv2", "lmdb", "google.protobuf", "h5py", "scipy", "onnx", "onnxruntime", "torchvision",
           "faiss", "triton", "pytest"]
OPTIONAL = {"faiss": "faiss-cpu", "torchvision": None}   # module -> pip requirement (None: computed)


def _version(mod):
    try:
        m = importlib.import_module(mod)
    except Exception as e:  # noqa: BLE001 - reported as the package's state
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return getattr(m, "__version__", "installed"), None


def _torchvision_requirement():
    import torch

    major, minor, patch = (torch.__version__.split("+")[0].split(".") + ["0", "0"])[:3]
    return f"torchvision=={0}.{int(minor) + 15}.{patch}" if major == "2" else None


def _import_ok(mod) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True).returncode == 0


def _pip(args, timeout=240):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"] + args
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"pip timed out after {timeout} s"
    return res.returncode == 0, (res.stderr or res.stdout).strip()[-300:]


def install_missing(ctx):
    for mod, req in OPTIONAL.items():
        if _import_ok(mod):
            continue
        req = req or _torchvision_requirement()
        if req is None:
            ctx.skip(f"install {mod}", "no matching version known for this torch")
            continue
        ok, msg = _pip(["install", "--no-deps", "--retries", "0", "--timeout", "10", req])
        if not ok:
            ctx.skip(f"install {req}", f"pip could not install it ({msg.splitlines()[-1] if msg else 'no output'})")
            continue
        if not _import_ok(mod):
            _pip(["uninstall", "-y", req.split("==")[0]])
            ctx.skip(f"install {req}", "installed but does not import with this torch build; removed again")
            continue
        ctx.note(f"installed {req} with pip")


def _nvidia_smi():
    q = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.draw,temperature.gpu,utilization.gpu"
    try:
        res = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
        return res.stdout.strip() or res.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"nvidia-smi: {e}"


def _commit(root):
    try:
        res = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (res.stdout.strip() + ("+changes" if dirty else "")) if res.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def run(ctx):
    import torch

    if not ctx.dry:
        install_missing(ctx)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ctx.set("python", platform.python_version())
    ctx.set("torch", torch.__version__)
    ctx.set("cuda", torch.version.cuda)
    ctx.set("cpus", cpus)
    ctx.set("commit", _commit(ctx.root))
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
        ctx.set("memory_gib", round(mem, 1))
    except (ValueError, OSError):
        pass
    if ctx.cuda:
        p = torch.cuda.get_device_properties(0)
        ctx.set("gpu", torch.cuda.get_device_name(0))
        ctx.set("gpu_count", torch.cuda.device_count())
        ctx.set("gpu_memory_gib", round(p.total_memory / 2 ** 30, 1))
        ctx.set("compute_capability", f"{p.major}.{p.minor}")
        ctx.set("multiprocessors", p.multi_processor_count)
        ctx.set("cudnn", torch.backends.cudnn.version())
        ctx.set("nvidia_smi", _nvidia_smi())
    else:
        ctx.skip("GPU properties", "no CUDA" + (" (dry mode)" if ctx.dry else ""))
    import fashioncaffe

    ctx.set("fashioncaffe", getattr(fashioncaffe, "__version__", "?"))
    for mod in MODULES:
        version, err = _version(mod)
        ctx.row("packages", {"module": mod, "version": version, "problem": err})
    try:
        import onnxruntime as ort

        ctx.set("onnxruntime_providers", ", ".join(ort.get_available_providers()))
    except ImportError as e:
        ctx.set("onnxruntime_providers", f"onnxruntime does not import: {e}")
