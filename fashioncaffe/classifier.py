"""pycaffe's ``caffe.Classifier``: a TEST-phase Net that classifies H×W×K images (e.g. from
``caffe.io.load_image``) with the usual ImageNet preprocessing.

    clf = caffe.Classifier("deploy.prototxt", "weights.caffemodel", image_dims=(256, 256),
                           mean=mean_bgr, raw_scale=255, channel_swap=(2, 1, 0))
    probs = clf.predict([caffe.io.load_image("cat.jpg")])      # N × classes

``predict`` resizes every image to ``image_dims`` (default: the net's input size), then classifies
either the ten-crop oversampling of each (four corners, centre and their mirrors; the predictions
averaged) or the centre crop alone, each crop of the net's input size, through ``forward_all``.
"""
from __future__ import annotations

import numpy as np

from . import io as caffe_io
from .layers.base import TEST
from .net import Net

__all__ = ["Classifier"]


def configure_transformer(net, mean=None, input_scale=None, raw_scale=None, channel_swap=None):
    """A Transformer for the net's first input: H×W×K images in, preprocessed as given."""
    name = net.inputs[0]
    transformer = caffe_io.Transformer({name: net.blobs[name].data.shape})
    transformer.set_transpose(name, (2, 0, 1))
    if mean is not None:
        transformer.set_mean(name, mean)
    if input_scale is not None:
        transformer.set_input_scale(name, input_scale)
    if raw_scale is not None:
        transformer.set_raw_scale(name, raw_scale)
    if channel_swap is not None:
        transformer.set_channel_swap(name, channel_swap)
    return transformer


class Classifier(Net):
    """Net specialised for image classification (pycaffe's ``Classifier``)."""

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None, input_scale=None,
                 raw_scale=None, channel_swap=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        self.transformer = configure_transformer(self, mean, input_scale, raw_scale, channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].data.shape[2:])
        self.image_dims = self.crop_dims if not image_dims else image_dims

    def _center_crops(self, images):
        top_left = ((np.asarray(self.image_dims) - self.crop_dims) / 2.0).astype(int)
        y0, x0 = top_left
        h, w = self.crop_dims
        return images[:, y0:y0 + h, x0:x0 + w, :]

    def predict(self, inputs, oversample=True):
        """Class probabilities (N × C) of the N images in ``inputs`` (each H×W×K)."""
        h, w = int(self.image_dims[0]), int(self.image_dims[1])
        resized = np.zeros((len(inputs), h, w, inputs[0].shape[2]), dtype=np.float32)
        for i, image in enumerate(inputs):
            resized[i] = caffe_io.resize_image(image, (h, w))
        crops = caffe_io.oversample(resized, self.crop_dims) if oversample else self._center_crops(resized)
        name = self.inputs[0]
        batch = np.zeros((len(crops),) + tuple(self.blobs[name].data.shape[1:]), dtype=np.float32)
        for i, crop in enumerate(crops):
            batch[i] = self.transformer.preprocess(name, crop)
        predictions = self.forward_all(**{name: batch})[self.outputs[0]]
        if oversample:
            predictions = predictions.reshape((len(predictions) // 10, 10, -1)).mean(1)
        return predictions
