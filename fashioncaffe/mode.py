"""Caffe's global mode: CPU or GPU, and which GPU (``set_mode_cpu``, ``set_mode_gpu``, ``set_device``)."""
from __future__ import annotations

import torch

from .errors import fail

_state = {"gpu": False, "device_id": 0, "random_seed": None}


def set_mode_cpu() -> None:
    _state["gpu"] = False


def set_mode_gpu() -> None:
    if not torch.cuda.is_available():
        raise fail("set_mode_gpu: no CUDA device is visible to PyTorch (torch.cuda.is_available() is False). "
                   "Install the CUDA build of PyTorch on a machine with an NVIDIA GPU, or use CPU mode.")
    _state["gpu"] = True
    # float32 means float32: PyTorch lets cuDNN use TF32 by default, Caffe never does
    # (`--precision tf32` turns it on deliberately)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def set_device(device_id: int) -> None:
    _state["device_id"] = int(device_id)


def set_random_seed(seed: int) -> None:
    _state["random_seed"] = int(seed)
    torch.manual_seed(int(seed))


def random_seed() -> int | None:
    """The seed of the last ``set_random_seed`` (a solver's ``random_seed``), None when none was set."""
    return _state["random_seed"]


def is_gpu() -> bool:
    return _state["gpu"]


def device() -> torch.device:
    if _state["gpu"]:
        return torch.device("cuda", _state["device_id"])
    return torch.device("cpu")
