"""Images are decoded as BVLC Caffe 1.0 decodes them, on every path that reads an image file.

Generated files: a JPEG whose EXIF orientation tag says "rotate 90°" (stored 26 × 30, upright 30 × 26),
an RGBA PNG, a grey PNG and a 16-bit PNG.  BVLC reads an encoded Datum natively with
``cv::imdecode(buf, -1)`` (the file as stored: never rotated, alpha kept, 1/3/4 channels; a 16-bit
image then fails its CHECK(depth == CV_8U)), decodes with COLOR / GRAYSCALE under force_color /
force_gray, and reads ImageData / convert_imageset files with ``cv::imread(file, is_color ? COLOR :
GRAYSCALE)`` -- on OpenCV 2.4, BVLC 1.0's default, none of these rotates (see
``fashioncaffe.formats.lmdb_datum.imread_flags``).
"""
import os
import re
import struct

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.imageset import convert_imageset, read_image_to_datum
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.lmdb_datum import (DatumReader, DatumWriter, datum_to_array, decode_image, encoded_datum,
                                        make_key)
from fashioncaffe.io import datum_to_array as pycaffe_datum_to_array
from fashioncaffe.io import load_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 26, 30   # the stored pixel grid of every generated image


def _pixels(c=3, dtype=np.uint8):
    rng = np.random.default_rng(5)
    hi = 65536 if dtype == np.uint16 else 256
    img = rng.integers(0, hi, (H, W, c)).astype(dtype)
    img[:4, :, :] = 0           # a dark band on top: a rotation would move it
    return img if c > 1 else img[:, :, 0]


def exif_rotated_jpeg(orientation=6):
    """A JPEG whose EXIF APP1 segment holds Orientation = ``orientation`` (6: rotate 90° clockwise)."""
    ok, buf = cv2.imencode(".jpg", _pixels(3), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    jpeg = buf.tobytes()
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8)                      # big-endian TIFF header, IFD at 8
            + struct.pack(">H", 1)                                    # one entry
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)     # Orientation, SHORT, count 1
            + struct.pack(">I", 0))                                   # no next IFD
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + app1 + jpeg[2:]


def png(img):
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    out = {"exif.jpg": exif_rotated_jpeg(), "rgba.png": png(_pixels(4)), "grey.png": png(_pixels(1)),
           "deep.png": png(_pixels(3, np.uint16))}
    for name, data in out.items():
        (d / name).write_bytes(data)
    stored = cv2.imdecode(np.frombuffer(out["exif.jpg"], np.uint8), cv2.IMREAD_UNCHANGED)
    upright = cv2.imdecode(np.frombuffer(out["exif.jpg"], np.uint8), cv2.IMREAD_COLOR)
    # the premise: this OpenCV honours the tag with IMREAD_COLOR (the old IMREAD_ANYCOLOR decode did too)
    assert stored.shape == (H, W, 3) and upright.shape == (W, H, 3)
    assert cv2.imdecode(np.frombuffer(out["exif.jpg"], np.uint8), cv2.IMREAD_ANYCOLOR).shape == (W, H, 3)
    return d, out, stored


# ---------------------------------------------------------------------------------------------
def test_decode_image_native_keeps_the_file_as_stored(files):
    d, data, stored = files
    img = decode_image(data["exif.jpg"], None)
    assert img.shape == (H, W, 3)                       # BVLC never rotates: 26 × 30, not 30 × 26
    np.testing.assert_array_equal(img, stored)
    rgba = decode_image(data["rgba.png"], None)
    assert rgba.shape == (H, W, 4)                      # alpha kept (4 channels, as BVLC)
    np.testing.assert_array_equal(rgba, _pixels(4))
    grey = decode_image(data["grey.png"], None)
    assert grey.shape == (H, W, 1)
    with pytest.raises(FashionCaffeError, match="16-bit.*CV_8U.*force_color"):
        decode_image(data["deep.png"], None, "db: entry 'deep'")


def test_decode_image_force_color_and_gray_never_rotate(files):
    d, data, stored = files
    assert decode_image(data["exif.jpg"], True).shape == (H, W, 3)
    np.testing.assert_array_equal(decode_image(data["exif.jpg"], True), stored)
    assert decode_image(data["exif.jpg"], False).shape == (H, W, 1)
    assert decode_image(data["rgba.png"], True).shape == (H, W, 3)
    assert decode_image(data["grey.png"], True).shape == (H, W, 3)
    assert decode_image(data["rgba.png"], False).shape == (H, W, 1)
    assert decode_image(data["deep.png"], True).dtype == np.uint8      # COLOR decodes to 8 bits


def _encoded_lmdb(path, blobs):
    with DatumWriter(path) as w:
        for i, b in enumerate(blobs):
            w.put(make_key(i, f"im{i}"), encoded_datum(b, i))


def _data_net(tmp_path, source, transform="", data_param=""):
    p = tmp_path / "net.prototxt"
    p.write_text(f'layer {{ name: "d" type: "Data" top: "data" top: "label" '
                 f'data_param {{ source: "{source}" batch_size: 1 backend: LMDB {data_param} }} '
                 f'transform_param {{ {transform} }} }}\n')
    return caffe.Net(str(p), caffe.TEST)


@pytest.mark.parametrize("name,transform,channels", [
    ("exif.jpg", "", 3), ("exif.jpg", "force_color: true", 3), ("exif.jpg", "force_gray: true", 1),
    ("rgba.png", "", 4), ("rgba.png", "force_color: true", 3), ("grey.png", "", 1), ("grey.png", "force_color: true", 3),
])
def test_data_layer_reads_encoded_lmdb_as_bvlc(tmp_path, files, name, transform, channels):
    d, data, stored = files
    _encoded_lmdb(tmp_path / "db", [data[name]])
    net = _data_net(tmp_path, tmp_path / "db", transform)
    net.forward()
    assert net.blobs["data"].data.shape == (1, channels, H, W)
    if name == "exif.jpg" and channels == 3:
        np.testing.assert_array_equal(net.blobs["data"].data[0], stored.transpose(2, 0, 1))
    if name == "rgba.png" and channels == 4:
        np.testing.assert_array_equal(net.blobs["data"].data[0], _pixels(4).transpose(2, 0, 1))


def test_data_layer_16bit_png_is_a_clear_error_and_force_encoded_color_is_ignored(tmp_path, files, capsys):
    d, data, stored = files
    _encoded_lmdb(tmp_path / "deep", [data["deep.png"]])
    with pytest.raises(FashionCaffeError, match=r"entry '00000000_im0'.*16-bit"):
        _data_net(tmp_path, tmp_path / "deep").forward()
    _encoded_lmdb(tmp_path / "grey", [data["grey.png"]])
    net = _data_net(tmp_path, tmp_path / "grey", data_param="force_encoded_color: true")
    net.forward()
    assert net.blobs["data"].data.shape == (1, 1, H, W)          # BVLC 1.0 reads the field nowhere
    assert "force_encoded_color has no effect" in capsys.readouterr().err


def test_image_data_layer_reads_files_unrotated(tmp_path, files):
    d, data, stored = files
    (tmp_path / "list.txt").write_text("exif.jpg 3\nrgba.png 1\n")
    for is_color, c in (("true", 3), ("false", 1)):
        p = tmp_path / f"n_{is_color}.prototxt"
        p.write_text(f'layer {{ name: "d" type: "ImageData" top: "data" top: "label" image_data_param {{ '
                     f'source: "{tmp_path / "list.txt"}" root_folder: "{d}/" batch_size: 1 is_color: {is_color} }} }}\n')
        net = caffe.Net(str(p), caffe.TEST)
        net.forward()
        assert net.blobs["data"].data.shape == (1, c, H, W)
        if c == 3:
            np.testing.assert_array_equal(net.blobs["data"].data[0], stored.transpose(2, 0, 1))


def test_convert_imageset_reads_unrotated_and_matches_bvlc_extension_rule(tmp_path, files):
    d, data, stored = files
    (d / "same.jpeg").write_bytes(data["exif.jpg"])
    (tmp_path / "list.txt").write_text("exif.jpg 0\nrgba.png 1\nsame.jpeg 2\n")
    convert_imageset(f"{d}/", str(tmp_path / "list.txt"), str(tmp_path / "raw"), progress=False, log=lambda m: None)
    r = DatumReader(tmp_path / "raw")
    assert (r.datum(0).channels, r.datum(0).height, r.datum(0).width) == (3, H, W)
    np.testing.assert_array_equal(datum_to_array(r.datum(0)), stored.transpose(2, 0, 1))
    assert r.datum(1).channels == 3                                        # imread COLOR drops alpha
    convert_imageset(f"{d}/", str(tmp_path / "list.txt"), str(tmp_path / "enc"), encoded=True, progress=False,
                     log=lambda m: None)
    r = DatumReader(tmp_path / "enc")
    assert r.datum(0).data == data["exif.jpg"] and r.datum(1).data == data["rgba.png"]   # files as they are
    assert datum_to_array(r.datum(1)).shape == (4, H, W)                   # and read natively: 4 channels
    # BVLC's matchExt: encoding "jpg" keeps a ".jpeg" file's bytes, "jpeg" re-encodes a ".jpg" file
    assert read_image_to_datum(str(d / "same.jpeg"), encoding="jpg")[0] == \
        encoded_datum(data["exif.jpg"], 0).SerializeToString()
    assert read_image_to_datum(str(d / "exif.jpg"), encoding="jpeg")[0] != \
        encoded_datum(data["exif.jpg"], 0).SerializeToString()
    assert read_image_to_datum(str(d / "exif.jpg"), is_color=False)[1]["shape"] == (1, H, W)


def test_pycaffe_io_load_image_and_datum_to_array(files):
    d, data, stored = files
    img = load_image(str(d / "exif.jpg"))          # pycaffe: skimage's PIL reader, no EXIF rotation
    assert img.shape == (H, W, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img, stored[:, :, ::-1] / 255.0, atol=1e-6)
    rgba = load_image(str(d / "rgba.png"))         # alpha dropped, RGB order
    np.testing.assert_allclose(rgba, _pixels(4)[:, :, 2::-1] / 255.0, atol=1e-6)
    assert load_image(str(d / "grey.png")).shape == (H, W, 3)            # grey tiled
    assert load_image(str(d / "grey.png"), color=False).shape == (H, W, 1)
    assert pycaffe_datum_to_array(encoded_datum(data["rgba.png"])).shape == (4, H, W)


def test_every_decode_in_the_package_uses_bvlcs_flags():
    """Each cv2.imread / cv2.imdecode in fashioncaffe/ passes imread_flags(...) (pycaffe's load_image,
    which follows skimage rather than Caffe, reads IMREAD_UNCHANGED itself)."""
    allowed = {("io.py", "cv2.imread(str(filename), cv2.IMREAD_UNCHANGED)")}
    bad = []
    for dirpath, _, names in os.walk(os.path.join(ROOT, "fashioncaffe")):
        for n in names:
            if not n.endswith(".py"):
                continue
            for line in open(os.path.join(dirpath, n), encoding="utf-8"):
                for call in re.findall(r"cv2\.im(?:read|decode)\([^\n]*", line):
                    if "imread_flags(" not in call and not any(n == f and a in call for f, a in allowed):
                        bad.append(f"{n}: {call.strip()}")
    assert not bad, bad
