"""caffe.io (fashioncaffe.io): Transformer, image loading/resizing, oversample, BlobProto and Datum."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import io as pyio
from fashioncaffe.proto import caffe_pb2


PYCAFFE_IO_NAMES = ("Transformer", "load_image", "resize_image", "oversample", "blobproto_to_array",
                    "array_to_blobproto", "arraylist_to_blobprotovector_str", "blobprotovector_str_to_arraylist",
                    "array_to_datum", "datum_to_array")


def test_caffe_io_exposes_pycaffe_api():
    """`caffe.io` is pycaffe's io module, however it is reached (the file formats the engine reads
    are the separate fashioncaffe.formats, so loading weights first changes nothing)."""
    import fashioncaffe.formats  # noqa: F401  (as the engine does when it loads weights or data)
    import fashioncaffe.io

    assert caffe.io is fashioncaffe.io
    for name in PYCAFFE_IO_NAMES:
        assert callable(getattr(caffe.io, name, None)), f"caffe.io.{name} is missing"


# ------------------------------------------------------------------------------------------------
# Transformer
def _transformer(shape=(1, 3, 6, 5)):
    t = pyio.Transformer({"data": shape})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255.0)
    t.set_mean("data", np.array([104.0, 117.0, 123.0]))
    t.set_input_scale("data", 0.5)
    return t


def test_preprocess_matches_manual_pipeline():
    rng = np.random.default_rng(0)
    img = rng.random((6, 5, 3)).astype(np.float32)
    keep = img.copy()
    out = _transformer().preprocess("data", img)
    want = (img.transpose(2, 0, 1)[[2, 1, 0]] * 255.0 - np.array([104, 117, 123.0])[:, None, None]) * 0.5
    assert out.dtype == np.float32 and out.shape == (3, 6, 5)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(img, keep)  # the caller's image is untouched


def test_deprocess_inverts_preprocess():
    rng = np.random.default_rng(1)
    img = rng.random((6, 5, 3)).astype(np.float32)
    t = _transformer()
    back = t.deprocess("data", t.preprocess("data", img)[None])
    np.testing.assert_allclose(back, img, atol=1e-5)


def test_preprocess_resizes_to_input_dims():
    t = pyio.Transformer({"data": (2, 3, 8, 10)})
    t.set_transpose("data", (2, 0, 1))
    out = t.preprocess("data", np.random.default_rng(2).random((16, 20, 3)))
    assert out.shape == (3, 8, 10) and out.dtype == np.float32
    const = t.preprocess("data", np.full((4, 4, 3), 0.25))
    np.testing.assert_allclose(const, 0.25)


def test_elementwise_mean_and_errors():
    t = pyio.Transformer({"data": (1, 3, 4, 4)})
    mean = np.arange(48, dtype=np.float32).reshape(3, 4, 4)
    t.set_mean("data", mean)
    x = np.ones((4, 4, 3), np.float32)
    t.set_transpose("data", (2, 0, 1))
    np.testing.assert_allclose(t.preprocess("data", x), 1.0 - mean)
    with pytest.raises(ValueError):
        t.set_mean("data", np.zeros((3, 5, 5)))
    with pytest.raises(ValueError):
        t.set_mean("data", np.zeros(4))
    with pytest.raises(Exception):
        t.preprocess("nope", x)
    with pytest.raises(Exception):
        t.set_transpose("data", (1, 0))
    with pytest.raises(Exception):
        t.set_channel_swap("data", (1, 0))
    grey = pyio.Transformer({"data": (1, 1, 4, 4)})
    grey.set_mean("data", np.full((4, 4), 2.0))  # H×W mean for a one-channel input
    assert grey.mean["data"].shape == (4, 4)


def test_transformer_feeds_a_net_blob():
    t = pyio.Transformer({"data": (1, 3, 4, 4)})
    t.set_transpose("data", (2, 0, 1))
    t.set_raw_scale("data", 255)
    from fashioncaffe.net_spec import layers as L

    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 4, 4]))
    n.out = L.ReLU(n.data)
    net = caffe.Net(n.to_proto(), caffe.TEST)
    img = np.random.default_rng(3).random((4, 4, 3)).astype(np.float32)
    net.blobs["data"].data[...] = t.preprocess("data", img)
    np.testing.assert_allclose(net.forward()["out"][0], img.transpose(2, 0, 1) * 255, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# images
def test_load_image_color_grey_alpha(tmp_path):
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 128, 0  # R, G, B
    cv2.imwrite(str(tmp_path / "c.png"), rgb[..., ::-1])  # OpenCV writes BGR
    img = pyio.load_image(str(tmp_path / "c.png"))
    assert img.shape == (5, 7, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[0, 0], [1.0, 128 / 255, 0.0], atol=1e-6)

    grey = pyio.load_image(str(tmp_path / "c.png"), color=False)
    assert grey.shape == (5, 7, 1)
    np.testing.assert_allclose(grey[0, 0, 0], 0.2125 + 0.7154 * 128 / 255, atol=1e-5)

    g = np.full((3, 4), 51, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), g)
    tiled = pyio.load_image(str(tmp_path / "g.png"))
    assert tiled.shape == (3, 4, 3)
    np.testing.assert_allclose(tiled, 0.2, atol=1e-6)
    assert pyio.load_image(str(tmp_path / "g.png"), color=False).shape == (3, 4, 1)

    rgba = np.dstack([rgb[..., ::-1], np.full((5, 7), 10, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    np.testing.assert_allclose(pyio.load_image(str(tmp_path / "a.png")), img)

    with pytest.raises(Exception):
        pyio.load_image(str(tmp_path / "missing.png"))


def test_resize_image_shapes_and_values():
    im = np.random.default_rng(4).random((10, 12, 3)).astype(np.float32)
    out = pyio.resize_image(im, (5, 6))
    assert out.shape == (5, 6, 3) and out.dtype == np.float32
    assert im.min() - 1e-6 <= out.min() and out.max() <= im.max() + 1e-6
    # many channels (feature maps) resize too
    many = np.random.default_rng(5).random((4, 4, 7)) * 100
    assert pyio.resize_image(many, (8, 8)).shape == (8, 8, 7)
    huge = np.random.default_rng(6).random((3, 3, 600))
    assert pyio.resize_image(huge, (6, 6)).shape == (6, 6, 600)
    const = pyio.resize_image(np.full((3, 3, 1), 7.5), (5, 4))
    assert const.shape == (5, 4, 1) and np.all(const == 7.5)
    # nearest neighbour keeps the values
    nn = pyio.resize_image(np.arange(4.0).reshape(2, 2, 1), (4, 4), interp_order=0)
    assert set(np.unique(nn)) <= {0.0, 1.0, 2.0, 3.0}


def test_oversample_ten_crops():
    im = np.arange(6 * 8 * 2, dtype=np.float32).reshape(6, 8, 2)
    crops = pyio.oversample([im, im + 1000], (4, 4))
    assert crops.shape == (20, 4, 4, 2)
    np.testing.assert_array_equal(crops[0], im[:4, :4])        # top-left
    np.testing.assert_array_equal(crops[1], im[:4, 4:])        # top-right
    np.testing.assert_array_equal(crops[2], im[2:, :4])        # bottom-left
    np.testing.assert_array_equal(crops[3], im[2:, 4:])        # bottom-right
    np.testing.assert_array_equal(crops[4], im[1:5, 2:6])      # centre
    for k in range(5):
        np.testing.assert_array_equal(crops[5 + k], crops[k][:, ::-1])  # mirrors
    np.testing.assert_array_equal(crops[10], im[:4, :4] + 1000)


# ------------------------------------------------------------------------------------------------
# BlobProto / Datum
def test_blobproto_roundtrip_and_legacy_shape():
    arr = np.random.default_rng(7).standard_normal((2, 3, 4)).astype(np.float32)
    diff = arr * 2
    blob = pyio.array_to_blobproto(arr, diff)
    assert list(blob.shape.dim) == [2, 3, 4]
    np.testing.assert_array_equal(pyio.blobproto_to_array(blob), arr)
    np.testing.assert_array_equal(pyio.blobproto_to_array(blob, return_diff=True), diff)

    legacy = caffe_pb2.BlobProto(num=1, channels=2, height=1, width=3, data=list(range(6)))
    got = pyio.blobproto_to_array(legacy)
    assert got.shape == (1, 2, 1, 3)
    np.testing.assert_array_equal(got.ravel(), np.arange(6))


def test_blobprotovector_str_roundtrip():
    arrays = [np.ones((2, 2), np.float32), np.arange(5, dtype=np.float32)]
    s = pyio.arraylist_to_blobprotovector_str(arrays)
    assert isinstance(s, bytes)
    vec = caffe_pb2.BlobProtoVector.FromString(s)
    assert len(vec.blobs) == 2
    back = pyio.blobprotovector_str_to_arraylist(s)
    for a, b in zip(arrays, back):
        np.testing.assert_array_equal(a, b)


def test_datum_roundtrip():
    img = np.random.default_rng(8).integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    d = pyio.array_to_datum(img, label=7)
    assert (d.channels, d.height, d.width, d.label) == (3, 4, 5, 7) and len(d.data) == 60
    back = pyio.datum_to_array(caffe_pb2.Datum.FromString(d.SerializeToString()))
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, img)

    f = np.random.default_rng(9).standard_normal((2, 1, 3))
    d = pyio.array_to_datum(f)
    assert len(d.data) == 0 and len(d.float_data) == 6 and not d.HasField("label")
    np.testing.assert_allclose(pyio.datum_to_array(d), f, rtol=1e-6)
    with pytest.raises(ValueError):
        pyio.array_to_datum(np.zeros((2, 2)))


def test_encoded_datum_decodes_to_bgr_chw():
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    d = caffe_pb2.Datum(data=png.tobytes(), encoded=True, label=1)
    arr = pyio.datum_to_array(d)
    assert arr.shape == (3, 4, 6)
    assert np.all(arr[0] == 200) and np.all(arr[1:] == 0)
