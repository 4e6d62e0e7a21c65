"""Caffe's DataTransformer, split between the prefetch workers and the device.

Caffe computes, for every output element (c, h, w) of an image cropped at (h_off, w_off)::

    src = (c, h_off + h, w_off + w)
    out[c, h, mirror ? W' - 1 - w : w] = (x[src] - mean[src]) * scale

(``mean`` is the mean file, indexed at the *uncropped* position, or one ``mean_value`` per channel;
``scale`` multiplies after the subtraction).  Offsets are random in TRAIN and central in TEST;
mirroring is random whenever ``mirror`` is set, in TEST too.

Here the workers do the part that moves uint8 pixels — decode, crop, mirror — and hand the batch
over as uint8 together with each image's (h_off, w_off) and mirror flag.  The device then does the
arithmetic: :class:`DeviceTransform` gathers the mean patch at each image's offset, mirrors it with
the image, and computes ``(x − mean_patch) · scale`` in float32.  The result is exactly Caffe's.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import fail

__all__ = ["TransformSpec", "augment_batch", "DeviceTransform", "batch_rng"]


class TransformSpec:
    """The TransformationParameter of one layer, validated (picklable; sent to workers)."""

    def __init__(self, crop_size=0, mirror=False, scale=1.0, mean_file="", mean_values=(),
                 force_color=False, force_gray=False, phase=0, name="?"):
        self.crop_size = int(crop_size)
        self.mirror = bool(mirror)
        self.scale = float(scale)
        self.mean_file = mean_file or ""
        self.mean_values = [float(v) for v in mean_values]
        self.force_color = bool(force_color)
        self.force_gray = bool(force_gray)
        self.phase = int(phase)
        self.name = name
        if self.mean_file and self.mean_values:
            raise fail(f"Layer '{name}': transform_param gives both mean_file and mean_value; Caffe accepts "
                       f"only one of them.")
        if self.force_color and self.force_gray:
            raise fail(f"Layer '{name}': transform_param sets both force_color and force_gray.")
        self.mean_shape = None
        self._mean = None
        if self.mean_file:
            self._mean = load_mean(self.mean_file, name)
            self.mean_shape = tuple(self._mean.shape)

    @classmethod
    def from_param(cls, tp, phase, name="?"):
        return cls(crop_size=tp.crop_size, mirror=tp.mirror, scale=tp.scale,
                   mean_file=tp.mean_file if tp.HasField("mean_file") else "",
                   mean_values=list(tp.mean_value), force_color=tp.force_color, force_gray=tp.force_gray,
                   phase=phase, name=name)

    @property
    def color(self):
        """Decode mode for encoded images: True (force_color), False (force_gray), None (native)."""
        if self.force_color:
            return True
        if self.force_gray:
            return False
        return None

    @property
    def mean(self):
        return self._mean

    @property
    def identity_math(self):
        return self._mean is None and not self.mean_values and self.scale == 1.0

    def out_hw(self, h, w):
        if self.crop_size:
            return self.crop_size, self.crop_size
        return h, w

    def __getstate__(self):  # workers never need the mean image itself
        st = dict(self.__dict__)
        st["_mean"] = None
        return st


def load_mean(path, name="?"):
    """Mean image (C, H, W) float32 from a mean.binaryproto."""
    from ..formats.blobproto import read_binaryproto

    arr = np.asarray(read_binaryproto(path), dtype=np.float32)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise fail(f"Layer '{name}': mean_file {path} holds {arr.shape[0]} images; it must hold one.")
        arr = arr[0]
    if arr.ndim != 3:
        raise fail(f"Layer '{name}': mean_file {path} has shape {list(arr.shape)}; expected (1, C, H, W).")
    return np.ascontiguousarray(arr)


def batch_rng(seed, stream, rank, batch_index):
    """The generator of one batch: a function of (seed, layer stream, rank, batch) only, so results do
    not depend on which worker made the batch or when."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFF, int(stream),
                                                                       int(rank), int(batch_index)])))


def augment_batch(images, spec: TransformSpec, rng, keys=None, what="?", alloc=None):
    """Crop and mirror a list of images into one uint8 (or float32) NCHW batch.

    ``images``: list of (array, layout) with layout ``"chw"`` or ``"hwc"``.  Returns
    ``(batch, offsets int32 (N, 2), flips bool (N,))``.  ``alloc(shape, dtype)`` may supply the output
    array (the workers write straight into shared memory).  All images must share the first one's
    channels, and — without a crop — its size; with a mean file they must match the mean's shape.
    """
    n = len(images)
    arr0, lay0 = images[0]
    c0, h0, w0 = _chw(arr0, lay0)
    oh, ow = spec.out_hw(h0, w0)
    dtype = np.uint8 if arr0.dtype == np.uint8 else np.float32
    out = (alloc or np.empty)((n, c0, oh, ow), dtype)
    u = rng.random((n, 3))  # drawn for every image whatever its size: the stream stays aligned
    offsets = np.zeros((n, 2), dtype=np.int32)
    flips = (u[:, 2] < 0.5) if spec.mirror else np.zeros(n, dtype=bool)
    cs = spec.crop_size
    for i, (arr, lay) in enumerate(images):
        c, h, w = _chw(arr, lay)
        key = keys[i] if keys is not None else f"#{i}"
        if c != c0 or (not cs and (h, w) != (h0, w0)):
            raise fail(f"{what}: entry {key!r} has shape {[c, h, w]} but the batch's first entry has "
                       f"{[c0, h0, w0]}; a batch needs equal shapes (use a crop_size or resize when "
                       f"converting).")
        if spec.mean_shape is not None and (c, h, w) != spec.mean_shape:
            raise fail(f"{what}: entry {key!r} has shape {[c, h, w]} but the mean_file {spec.mean_file} has "
                       f"{list(spec.mean_shape)}; Caffe indexes the mean at the uncropped position, so they "
                       f"must be equal.")
        if cs:
            if h < cs or w < cs:
                raise fail(f"{what}: entry {key!r} is {h}×{w}, smaller than crop_size {cs}.")
            if spec.phase == 0:
                ho = int(u[i, 0] * (h - cs + 1))
                wo = int(u[i, 1] * (w - cs + 1))
            else:
                ho, wo = (h - cs) // 2, (w - cs) // 2
            offsets[i] = (ho, wo)
            if lay == "chw":
                view = arr[:, ho:ho + cs, wo:wo + cs]
            else:
                view = arr[ho:ho + cs, wo:wo + cs, :]
        else:
            view = arr
        if lay == "hwc":
            # channel by channel: numpy copies a strided HW plane ~1.4× faster than the whole
            # HWC → CHW transpose at once (same bytes)
            if flips[i]:
                view = view[:, ::-1, :]
            o = out[i]
            for ch in range(c):
                o[ch] = view[:, :, ch]
            continue
        if flips[i]:
            view = view[:, :, ::-1]
        out[i] = view
    return out, offsets, flips


def _chw(arr, lay):
    if lay == "chw":
        return arr.shape
    h, w, c = arr.shape
    return c, h, w


class DeviceTransform:
    """The arithmetic half of the transform, on the device: ``(x − mean_patch) · scale``."""

    def __init__(self, spec: TransformSpec, device):
        self.spec = spec
        self.device = torch.device(device)
        self.scale = float(spec.scale)
        self.mean = None if spec.mean is None else torch.from_numpy(spec.mean).to(self.device)
        self.mean_values = None
        if spec.mean_values:
            self.mean_values = torch.tensor(spec.mean_values, dtype=torch.float32, device=self.device)

    def __call__(self, x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        y = x.float() if x.dtype != torch.float32 else x
        n, c, oh, ow = y.shape
        if self.mean is not None:
            y = y - self._mean_patch(offsets, flips, n, oh, ow)
        elif self.mean_values is not None:
            mv = self.mean_values
            if mv.numel() == 1:
                y = y - mv
            elif mv.numel() == c:
                y = y - mv.view(1, c, 1, 1)
            else:
                raise fail(f"Layer '{self.spec.name}': transform_param has {mv.numel()} mean_value entries for "
                           f"{c}-channel images; give one per channel or a single one.")
        if self.scale != 1.0:
            y = y * self.scale
        if y is x:  # float input with identity math: do not hand out the pinned staging tensor
            y = y.clone()
        return y

    def _mean_patch(self, offsets, flips, n, oh, ow):
        mean = self.mean  # (C, H, W) at the uncropped positions
        if (oh, ow) == tuple(mean.shape[1:]):  # no crop: offsets are all 0
            if not bool(flips.any()):
                return mean.unsqueeze(0)
            m = mean.unsqueeze(0).expand(n, -1, -1, -1)
            f = flips.to(self.device).view(n, 1, 1, 1)
            return torch.where(f, m.flip(3), m)
        off = offsets.to(self.device, non_blocking=True).long()
        fl = flips.to(self.device, non_blocking=True)
        ar_h = torch.arange(oh, device=self.device)
        ar_w = torch.arange(ow, device=self.device)
        rows = off[:, :1] + ar_h                                         # (N, oh)
        cols = torch.where(fl[:, None], off[:, 1:] + (ow - 1) - ar_w, off[:, 1:] + ar_w)  # (N, ow)
        patch = mean[:, rows[:, :, None], cols[:, None, :]]              # (C, N, oh, ow)
        return patch.permute(1, 0, 2, 3)


def reference_transform(img_chw, spec: TransformSpec, h_off, w_off, mirror):
    """Caffe's per-element formula in plain numpy for one CHW image (slow; for checks)."""
    c, h, w = img_chw.shape
    cs = spec.crop_size
    oh, ow = (cs, cs) if cs else (h, w)
    out = np.empty((c, oh, ow), dtype=np.float32)
    x = img_chw.astype(np.float32)
    for hh in range(oh):
        src_row = x[:, h_off + hh, w_off:w_off + ow]
        if spec.mean is not None:
            src_row = src_row - spec.mean[:, h_off + hh, w_off:w_off + ow]
        elif spec.mean_values:
            mv = np.asarray(spec.mean_values, np.float32)
            src_row = src_row - (mv[:, None] if mv.size == c else mv[0])
        src_row = src_row * np.float32(spec.scale)
        out[:, hh, :] = src_row[:, ::-1] if mirror else src_row
    return out
