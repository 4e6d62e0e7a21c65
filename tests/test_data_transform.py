"""The split transform (workers: crop + mirror on uint8; device: mean patch + scale) against a
literal numpy transcription of Caffe's DataTransformer::Transform(const Datum&, Dtype*)."""
import numpy as np
import pytest
import torch

from fashioncaffe.data_pipeline.transform import DeviceTransform, TransformSpec, augment_batch, batch_rng
from fashioncaffe.formats.blobproto import write_binaryproto


def caffe_transform(datum, crop, phase_train, h_off, w_off, do_mirror, mean=None, mean_values=None, scale=1.0):
    """Element by element, as data_transformer.cpp (offsets/mirror given instead of drawn)."""
    c, dh, dw = datum.shape
    height, width = (crop, crop) if crop else (dh, dw)
    if crop and not phase_train:
        h_off, w_off = (dh - crop) // 2, (dw - crop) // 2
    if not crop:
        h_off = w_off = 0
    if mean_values is not None and len(mean_values) == 1:
        mean_values = list(mean_values) * c
    flat = datum.ravel().astype(np.float32)
    out = np.zeros(c * height * width, np.float32)
    for ch in range(c):
        for h in range(height):
            for w in range(width):
                data_index = (ch * dh + h_off + h) * dw + w_off + w
                top_index = (ch * height + h) * width + ((width - 1 - w) if do_mirror else w)
                e = flat[data_index]
                if mean is not None:
                    out[top_index] = (e - mean.ravel()[data_index]) * scale
                elif mean_values is not None:
                    out[top_index] = (e - mean_values[ch]) * scale
                else:
                    out[top_index] = e * scale
    return out.reshape(c, height, width)


@pytest.mark.parametrize("phase", [0, 1])
@pytest.mark.parametrize("mode", ["mean_file", "mean_value3", "mean_value1", "none"])
@pytest.mark.parametrize("crop", [0, 5])
def test_against_caffe(tmp_path, phase, mode, crop):
    rng = np.random.default_rng(3)
    n, c, h, w = 6, 3, 8, 11
    imgs = rng.integers(0, 256, (n, c, h, w), dtype=np.uint8)
    kw = dict(crop_size=crop, mirror=True, scale=0.25, phase=phase)
    mean = None
    if mode == "mean_file":
        mean = rng.uniform(0, 255, (c, h, w)).astype(np.float32)
        write_binaryproto(str(tmp_path / "m.binaryproto"), mean[None], legacy_4d=True)
        kw["mean_file"] = str(tmp_path / "m.binaryproto")
    elif mode == "mean_value3":
        kw["mean_values"] = [104, 117, 123]
    elif mode == "mean_value1":
        kw["mean_values"] = [100]
    spec = TransformSpec(**kw)
    # half CHW raw, half HWC decoded: both layouts must give the same
    items = [(im, "chw") if i % 2 else (np.ascontiguousarray(im.transpose(1, 2, 0)), "hwc")
             for i, im in enumerate(imgs)]
    batch, offsets, flips = augment_batch(items, spec, batch_rng(1, 2, 0, 0))
    assert batch.dtype == np.uint8
    out = DeviceTransform(spec, "cpu")(torch.from_numpy(batch), torch.from_numpy(offsets), torch.from_numpy(flips))
    assert out.dtype == torch.float32
    if crop and phase == 1:
        assert (offsets == [(h - crop) // 2, (w - crop) // 2]).all()
    assert flips.any() and not flips.all()  # mirror is random, in TEST too
    for i in range(n):
        ref = caffe_transform(imgs[i], crop, phase == 0, offsets[i, 0], offsets[i, 1], bool(flips[i]), mean,
                              kw.get("mean_values"), 0.25)
        np.testing.assert_allclose(out[i].numpy(), ref, rtol=0, atol=1e-5)


def test_random_offsets_cover_range():
    spec = TransformSpec(crop_size=3, phase=0)
    imgs = [(np.zeros((1, 5, 6), np.uint8), "chw")] * 400
    _, off, _ = augment_batch(imgs, spec, batch_rng(0, 0, 0, 0))
    assert set(off[:, 0]) == {0, 1, 2} and set(off[:, 1]) == {0, 1, 2, 3}


def test_mean_file_shape_mismatch(tmp_path):
    write_binaryproto(str(tmp_path / "m"), np.zeros((1, 3, 4, 4), np.float32), legacy_4d=True)
    spec = TransformSpec(mean_file=str(tmp_path / "m"))
    from fashioncaffe.errors import FashionCaffeError

    with pytest.raises(FashionCaffeError, match="img7"):
        augment_batch([(np.zeros((3, 5, 5), np.uint8), "chw")], spec, batch_rng(0, 0, 0, 0), keys=["img7"])


def test_both_means_rejected(tmp_path):
    from fashioncaffe.errors import FashionCaffeError

    write_binaryproto(str(tmp_path / "m"), np.zeros((1, 3, 4, 4), np.float32), legacy_4d=True)
    with pytest.raises(FashionCaffeError, match="only one"):
        TransformSpec(mean_file=str(tmp_path / "m"), mean_values=[1])
