"""pycaffe's ``caffe.Detector``: classify windows of images (R-CNN style), each window warped to the
net's input size, optionally with a border of surrounding context.

    det = caffe.Detector("deploy.prototxt", "weights.caffemodel", mean=mean_bgr, raw_scale=255,
                         channel_swap=(2, 1, 0), context_pad=16)
    dets = det.detect_windows([("img.jpg", np.array([[ymin, xmin, ymax, xmax], ...]))])

``context_pad`` (R-CNN's warping with context): the window is enlarged so that, once warped to the
input size, a border of ``context_pad`` pixels around it shows the image around the window; parts
of that enlarged box outside the image are filled with the mean (in unprocessed image values).
``detect_selective_search`` needs the external ``selective_search_ijcv_with_python`` package, as
pycaffe's does.
"""
from __future__ import annotations

import os

import numpy as np

from . import io as caffe_io
from .classifier import configure_transformer
from .errors import fail
from .layers.base import TEST
from .net import Net

__all__ = ["Detector"]


class Detector(Net):
    """Net specialised for windowed detection (pycaffe's ``Detector``)."""

    def __init__(self, model_file, pretrained_file, mean=None, input_scale=None, raw_scale=None,
                 channel_swap=None, context_pad=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        self.transformer = configure_transformer(self, mean, input_scale, raw_scale, channel_swap)
        self.configure_crop(context_pad)

    def detect_windows(self, images_windows):
        """[{'window', 'prediction', 'filename'}] for every window of every (filename, windows) pair."""
        images_windows = [(fname, list(windows)) for fname, windows in images_windows]
        crops = []
        for fname, windows in images_windows:
            image = caffe_io.load_image(fname).astype(np.float32)
            crops.extend(self.crop(image, window) for window in windows)
        name = self.inputs[0]
        batch = np.zeros((len(crops), crops[0].shape[2]) + tuple(self.blobs[name].data.shape[2:]), dtype=np.float32)
        for i, crop in enumerate(crops):
            batch[i] = self.transformer.preprocess(name, crop)
        predictions = self.forward_all(**{name: batch})[self.outputs[0]]
        detections, i = [], 0
        for fname, windows in images_windows:
            for window in windows:
                detections.append({"window": window, "prediction": predictions[i], "filename": fname})
                i += 1
        return detections

    def detect_selective_search(self, image_fnames):
        """Detect over Selective Search proposals (needs ``selective_search_ijcv_with_python``)."""
        try:
            import selective_search_ijcv_with_python as selective_search
        except ImportError as e:
            raise fail("Detector.detect_selective_search needs the selective_search_ijcv_with_python package "
                       "(and MATLAB), as pycaffe's does; it is not installed. Use detect_windows with your own "
                       "windows instead.", like=ImportError) from e
        image_fnames = [os.path.abspath(f) for f in image_fnames]
        windows = selective_search.get_windows(image_fnames, cmd="selective_search_rcnn")
        return self.detect_windows(zip(image_fnames, windows))

    def crop(self, im, window):
        """The window (ymin, xmin, ymax, xmax) of the H×W×K image ``im``, with context when
        configured (then already of the net's input size)."""
        window = np.asarray(window)
        if not self.context_pad:
            return im[window[0]:window[2], window[1]:window[3]]
        size = self.blobs[self.inputs[0]].width  # square inputs, as R-CNN's
        scale = size / (1.0 * size - self.context_pad * 2)
        half = np.array([(window[2] - window[0] + 1) / 2.0, (window[3] - window[1] + 1) / 2.0])
        center = window[:2] + half
        box = np.round(np.concatenate([center - scale * half, center + scale * half]))
        full = box[2:] - box[:2] + 1
        warp = size / full                                   # (y, x) scale from image to input pixels
        pad = np.round(np.maximum(0, -box[:2]) * warp)       # the part of the box above/left of the image
        im_h, im_w = im.shape[:2]
        box = np.clip(box, 0.0, [im_h, im_w, im_h, im_w])
        clipped = box[2:] - box[:2] + 1
        if not (clipped > 0).all():
            raise fail(f"Detector.crop: window {window.tolist()} lies outside the {im_h}x{im_w} image.",
                       like=ValueError)
        out_h, out_w = (int(v) for v in np.minimum(np.round(clipped * warp), size - pad))
        pad_y, pad_x = (int(v) for v in pad)
        region = im[int(box[0]):int(box[2]), int(box[1]):int(box[3])]
        canvas = np.ones(self.crop_dims, dtype=np.float32) * self.crop_mean
        canvas[pad_y:pad_y + out_h, pad_x:pad_x + out_w] = caffe_io.resize_image(region, (out_h, out_w))
        return canvas

    def configure_crop(self, context_pad):
        """Set the crop size (the net's input, as H×W×K) and the context padding with its fill: the
        transformer's mean taken back to image values (un-transposed, un-swapped, un-scaled)."""
        name = self.inputs[0]
        inverse = np.argsort(self.transformer.transpose[name])   # blob axes (K, H, W) back to image axes
        self.crop_dims = np.array(self.blobs[name].data.shape[1:])[inverse]
        self.context_pad = context_pad
        if not context_pad:
            return
        mean = self.transformer.mean.get(name)
        if mean is None:
            self.crop_mean = np.zeros(self.crop_dims, dtype=np.float32)
            return
        crop_mean = mean.copy().transpose(inverse)
        swap = self.transformer.channel_swap.get(name)
        if swap is not None:
            crop_mean = crop_mean[:, :, [list(swap).index(c) for c in range(crop_mean.shape[2])]]
        raw_scale = self.transformer.raw_scale.get(name)
        if raw_scale is not None:
            crop_mean = crop_mean / raw_scale
        self.crop_mean = crop_mean
