"""Caffe's global mode (the ``Caffe`` singleton of common.hpp): CPU or GPU, which GPU, the random
seed, and the solver count/rank pycaffe's multi-process training sets (``solver_count``,
``set_solver_count``, ``solver_rank``, ``set_solver_rank``, ``set_multiprocess``; a fresh process
answers 1, 0 and False, as BVLC's).  Only what ``set_mode_*`` set decides where a net runs: a
solver file's ``solver_mode`` is read by the command-line tool alone, as in Caffe."""
from __future__ import annotations

import torch

from .errors import fail

_state = {"gpu": False, "device_id": 0, "random_seed": None, "solver_count": 1, "solver_rank": 0,
          "multiprocess": False}


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
    """The seed set by ``set_random_seed`` (the solver's ``random_seed``), None when unset."""
    return _state["random_seed"]


def is_gpu() -> bool:
    return _state["gpu"]


def device() -> torch.device:
    if _state["gpu"]:
        return torch.device("cuda", _state["device_id"])
    return torch.device("cpu")


def solver_count() -> int:
    return _state["solver_count"]


def set_solver_count(count: int) -> None:
    _state["solver_count"] = int(count)


def solver_rank() -> int:
    return _state["solver_rank"]


def set_solver_rank(rank: int) -> None:
    _state["solver_rank"] = int(rank)


def multiprocess() -> bool:
    return _state["multiprocess"]


def set_multiprocess(value: bool) -> None:
    _state["multiprocess"] = bool(value)
