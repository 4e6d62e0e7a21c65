"""Download the wheels the lent GPU machine lacks, for its Python 3.12 on x86-64 (docs/GPU_CHECK.md).

    python -m tools.gpu_check.wheels [--dest .whl]

That machine reaches no package index, and its image (the workplace's CUDA image: torch, torchvision,
onnxruntime, OpenCV, h5py, scipy, matplotlib, tqdm, onnx, pytest are there) lacks:

* ``lmdb`` – the engine's LMDB reader and writer;
* ``protobuf`` ≥ the version ``fashioncaffe/proto/caffe_pb2.py`` was generated with (its runtime check
  refuses an older runtime), pinned to this machine's installed version;
* ``faiss-cpu`` – exact search beside the engine's k-NN (optional: the k-NN section says when it is absent).

Versions are those installed here (so the device runs what the tests ran), faiss-cpu's where present
else ``FAISS_DEFAULT``.  ``--no-deps``: their own needs (numpy, packaging) are on the image.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .context import ROOT

PACKAGES = ["lmdb", "protobuf", "faiss-cpu"]
FAISS_DEFAULT = "1.15.1"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]


def pins() -> list[str]:
    out = []
    for name in PACKAGES:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            if name != "faiss-cpu":
                raise SystemExit(f"{name} is not installed here; run `make install` first") from None
            out.append(f"faiss-cpu=={FAISS_DEFAULT}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", default=str(ROOT / ".whl"))
    ap.add_argument("--python-version", default="3.12")
    a = ap.parse_args(argv)
    dest = Path(a.dest)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):   # one version of each: two would stop the install on the device
        old.unlink()
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           a.python_version, "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    cmd += pins()
    print(" ".join(cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    wheels = sorted(dest.glob("*.whl"))
    for w in wheels:
        print(f"{w.stat().st_size / 2 ** 20:8.1f} MiB  {w.name}")
    print(f"{sum(w.stat().st_size for w in wheels) / 2 ** 20:8.1f} MiB in {dest}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
