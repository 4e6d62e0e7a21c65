"""pycaffe's ``caffe.io``: image loading and preprocessing, and BlobProto / Datum conversions.

    import fashioncaffe as caffe
    t = caffe.io.Transformer({"data": net.blobs["data"].data.shape})
    t.set_transpose("data", (2, 0, 1))      # H×W×K image → K×H×W
    t.set_channel_swap("data", (2, 1, 0))   # RGB → BGR
    t.set_raw_scale("data", 255)            # [0, 1] → [0, 255]
    t.set_mean("data", mean_bgr)            # per-channel (K,) or elementwise (K, H, W)
    net.blobs["data"].data[...] = t.preprocess("data", caffe.io.load_image("cat.jpg"))

``preprocess`` order (as pycaffe): float32 → resize to the input's H×W → transpose → channel swap →
× raw_scale → − mean → × input_scale.  ``deprocess`` undoes it in reverse (without resizing).

Images are read and resized with OpenCV (pycaffe uses scikit-image; the values agree to
interpolation round-off).  ``load_image`` returns RGB float32 in [0, 1], H×W×3 (or H×W×1 grey).
"""
from __future__ import annotations

import numpy as np

from .errors import fail
from .formats.opencv_errors import opencv_decoding
from .formats.blobproto import (array_to_blobproto, arraylist_to_blobprotovector_str,  # noqa: F401 (pycaffe API)
                                blobproto_to_array, blobprotovector_str_to_arraylist)
from .proto import caffe_pb2

__all__ = [
    "Transformer", "load_image", "resize_image", "oversample",
    "blobproto_to_array", "array_to_blobproto", "arraylist_to_blobprotovector_str",
    "blobprotovector_str_to_arraylist", "array_to_datum", "datum_to_array",
]


# ------------------------------------------------------------------------------------------------
# BlobProto (the engine's own converters: packed encoding, legacy 4-D shapes, double_data) and Datum
def array_to_datum(arr, label=None):
    """A Datum from a C×H×W array: uint8 arrays go to ``data`` bytes, others to ``float_data``."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise ValueError("Incorrect array shape.")
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = (int(d) for d in arr.shape)
    if arr.dtype == np.uint8:
        datum.data = np.ascontiguousarray(arr).tobytes()
    else:
        datum.float_data.extend(arr.astype(float).flat)
    if label is not None:
        datum.label = int(label)
    return datum


def datum_to_array(datum):
    """A Datum's C×H×W array: uint8 from ``data`` bytes, else float from ``float_data``.

    Encoded (JPEG/PNG) Datums -- which BVLC's pycaffe does not decode -- are decoded as Caffe's Data
    layer reads them natively (the file's own channels, alpha kept, never rotated), C×H×W uint8."""
    if datum.encoded:
        from .formats.lmdb_datum import decode_image

        img = decode_image(datum.data, None, "datum_to_array: the encoded Datum")
        return np.ascontiguousarray(img.transpose(2, 0, 1))
    if len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(datum.channels, datum.height, datum.width).copy()
    return np.array(datum.float_data).astype(float).reshape(datum.channels, datum.height, datum.width)


# ------------------------------------------------------------------------------------------------
# Preprocessing
class Transformer:
    """Turns images into net input blobs and back (pycaffe's ``caffe.io.Transformer``).

    ``inputs``: ``{input name: blob shape (N, K, H, W)}``.
    """

    def __init__(self, inputs):
        self.inputs = {k: tuple(int(d) for d in v) for k, v in dict(inputs).items()}
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}

    def __check_input(self, in_):
        if in_ not in self.inputs:
            raise Exception(f"{in_} is not one of the net inputs: {self.inputs}")

    def preprocess(self, in_, data):
        """Format ``data`` (H×W×K image) for input ``in_``: resize, transpose, swap, scale, mean."""
        self.__check_input(in_)
        src = np.asarray(data)
        caffe_in = src.astype(np.float32, copy=False)
        transpose = self.transpose.get(in_)
        channel_swap = self.channel_swap.get(in_)
        raw_scale = self.raw_scale.get(in_)
        mean = self.mean.get(in_)
        input_scale = self.input_scale.get(in_)
        in_dims = self.inputs[in_][2:]
        if caffe_in.shape[:2] != in_dims:
            caffe_in = resize_image(caffe_in, in_dims)
        if transpose is not None:
            caffe_in = caffe_in.transpose(transpose)
        if channel_swap is not None:
            caffe_in = caffe_in[list(channel_swap), :, :]
        if np.shares_memory(caffe_in, src) or not caffe_in.flags.writeable:
            caffe_in = caffe_in.copy()  # never modify the caller's image
        if raw_scale is not None:
            caffe_in *= raw_scale
        if mean is not None:
            caffe_in -= mean
        if input_scale is not None:
            caffe_in *= input_scale
        return caffe_in

    def deprocess(self, in_, data):
        """Invert ``preprocess`` (except resizing) for display: K×H×W blob data → H×W×K image."""
        self.__check_input(in_)
        decaf_in = np.array(data, copy=True).squeeze()
        transpose = self.transpose.get(in_)
        channel_swap = self.channel_swap.get(in_)
        raw_scale = self.raw_scale.get(in_)
        mean = self.mean.get(in_)
        input_scale = self.input_scale.get(in_)
        if input_scale is not None:
            decaf_in /= input_scale
        if mean is not None:
            decaf_in += mean
        if raw_scale is not None:
            decaf_in /= raw_scale
        if channel_swap is not None:
            decaf_in = decaf_in[np.argsort(channel_swap), :, :]
        if transpose is not None:
            decaf_in = decaf_in.transpose(np.argsort(transpose))
        return decaf_in

    def set_transpose(self, in_, order):
        """Axis order for the input, e.g. (2, 0, 1) for H×W×K images into K×H×W blobs."""
        self.__check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise Exception("Transpose order needs to have the same number of dimensions as the input.")
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        """Channel order after transposing, e.g. (2, 1, 0) for RGB → BGR."""
        self.__check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise Exception("Channel swap needs to have the same number of dimensions as the input channels.")
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        """Multiply by ``scale`` before the mean is subtracted (255 for [0, 1] images and a [0, 255] mean)."""
        self.__check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """Mean to subtract: per channel (shape (K,)) or elementwise (K×H×W, or H×W)."""
        self.__check_input(in_)
        mean = np.asarray(mean)
        ms = mean.shape
        if mean.ndim == 1:
            if ms[0] != self.inputs[in_][1]:
                raise ValueError("Mean channels incompatible with input.")
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            if len(ms) == 2:
                ms = (1,) + ms
            if len(ms) != 3:
                raise ValueError("Mean shape invalid")
            if ms != self.inputs[in_][1:]:
                raise ValueError("Mean shape incompatible with input shape.")
        self.mean[in_] = mean

    def set_input_scale(self, in_, scale):
        """Multiply by ``scale`` after the mean is subtracted."""
        self.__check_input(in_)
        self.input_scale[in_] = scale


# ------------------------------------------------------------------------------------------------
# Images
_GREY = np.array([0.2125, 0.7154, 0.0721], dtype=np.float64)  # scikit-image's rgb2gray weights


def load_image(filename, color=True):
    """Load an image as RGB float32 in [0, 1], H×W×3 (``color``) or H×W×1 (grey).

    Grey files are tiled to three channels when ``color``; an alpha channel is dropped."""
    import cv2

    import os

    if not os.path.isfile(filename):
        raise fail(f"load_image: '{filename}' does not exist (or is not a file).", like=FileNotFoundError)
    with opencv_decoding(f"load_image: '{filename}'", str(filename)):
        raw = cv2.imread(str(filename), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise fail(f"load_image: cannot read '{filename}' as an image (not a format OpenCV decodes).",
                   like=ValueError)
    if raw.dtype == np.uint8:
        img = raw.astype(np.float64) / 255.0
    elif raw.dtype == np.uint16:
        img = raw.astype(np.float64) / 65535.0
    else:
        img = raw.astype(np.float64)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        if img.shape[2] == 3:
            img = img[:, :, ::-1]  # OpenCV reads BGR
    if not color and img.ndim == 3 and img.shape[2] == 3:
        img = img @ _GREY
    img = img.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    return img


_INTERP = {0: "INTER_NEAREST", 1: "INTER_LINEAR", 2: "INTER_CUBIC", 3: "INTER_CUBIC"}


def resize_image(im, new_dims, interp_order=1):
    """Resize an H×W×K image to ``new_dims`` (height, width); float32 out.

    ``interp_order``: 0 nearest, 1 bilinear (default), 2/3 bicubic.  Any number of channels."""
    import cv2

    im = np.asarray(im)
    h, w = int(new_dims[0]), int(new_dims[1])
    if im.ndim == 2:
        im = im[:, :, np.newaxis]
    k = im.shape[-1]
    im_min, im_max = float(im.min()), float(im.max())
    if im_max == im_min:  # a constant image: avoid any interpolation round-off
        ret = np.empty((h, w, k), dtype=np.float32)
        ret.fill(im_min)
        return ret
    flag = getattr(cv2, _INTERP.get(int(interp_order), "INTER_LINEAR"))
    src = np.ascontiguousarray(im, dtype=np.float32)
    if k <= 512:
        out = cv2.resize(src, (w, h), interpolation=flag)
        if out.ndim == 2:
            out = out[:, :, np.newaxis]
    else:
        from scipy.ndimage import zoom

        scale = (h / im.shape[0], w / im.shape[1], 1)
        out = zoom(src, scale, order=int(interp_order))
    return out.astype(np.float32, copy=False)


def oversample(images, crop_dims):
    """Ten crops per image: four corners and the centre, and their mirrors.

    ``images``: iterable of H×W×K images (all one size); ``crop_dims``: (height, width).
    Returns an array (10·N)×h×w×K, per image the five crops then their mirrors."""
    images = list(images)
    im_shape = np.array(images[0].shape)
    crop_dims = np.array(crop_dims)
    im_center = im_shape[:2] / 2.0

    h_indices = (0, im_shape[0] - crop_dims[0])
    w_indices = (0, im_shape[1] - crop_dims[1])
    crops_ix = np.empty((5, 4), dtype=int)
    curr = 0
    for i in h_indices:
        for j in w_indices:
            crops_ix[curr] = (i, j, i + crop_dims[0], j + crop_dims[1])
            curr += 1
    crops_ix[4] = np.tile(im_center, (1, 2)) + np.concatenate([-crop_dims / 2.0, crop_dims / 2.0])
    crops_ix = np.tile(crops_ix, (2, 1))

    crops = np.empty((10 * len(images), crop_dims[0], crop_dims[1], im_shape[-1]), dtype=np.float32)
    ix = 0
    for im in images:
        for crop in crops_ix:
            crops[ix] = im[crop[0]:crop[2], crop[1]:crop[3], :]
            ix += 1
        crops[ix - 5:ix] = crops[ix - 5:ix, :, ::-1, :]  # mirror the second five
    return crops
