"""tools/convert_imageset.py and tools/compute_image_mean.py on a few generated images."""
import os
import subprocess
import sys

import cv2
import numpy as np

from fashioncaffe.imageset import compute_image_mean, convert_imageset, main_convert_imageset
from fashioncaffe.formats.blobproto import read_binaryproto, read_blobproto
from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_images(tmp_path, n=5):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    lines = []
    for i in range(n):
        img = rng.integers(0, 256, (20 + i, 16, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "imgs" / f"p {i}.png"), img)
        lines.append(f"p {i}.png {i % 2}")
    lines.append("missing.png 1")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")


def test_raw_resized_and_mean(tmp_path):
    make_images(tmp_path)
    rc = main_convert_imageset(["--resize_height=8", "-resize_width=10", "--check_size", f"{tmp_path}/imgs/",
                                str(tmp_path / "list.txt"), str(tmp_path / "db")])
    assert rc == 0
    r = DatumReader(tmp_path / "db")
    assert [k.decode() for k in r.keys] == [f"{i:08d}_p {i}.png" for i in range(5)]  # missing file skipped
    d = r.datum(2)
    assert (d.channels, d.height, d.width, d.label, d.encoded) == (3, 8, 10, 0, False)
    ref = cv2.resize(cv2.imread(str(tmp_path / "imgs" / "p 2.png")), (10, 8)).transpose(2, 0, 1)
    np.testing.assert_array_equal(datum_to_array(d), ref)
    res = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compute_image_mean.py"), str(tmp_path / "db"),
                          str(tmp_path / "mean.binaryproto")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "mean_value channel [0]" in res.stderr
    mean = read_binaryproto(str(tmp_path / "mean.binaryproto"))
    blob = read_blobproto(str(tmp_path / "mean.binaryproto"))
    assert (blob.num, blob.channels, blob.height, blob.width) == (1, 3, 8, 10)  # legacy fields, as BVLC
    allimg = np.stack([datum_to_array(r.datum(i)).astype(np.float64) for i in range(5)])
    np.testing.assert_allclose(mean[0], allimg.mean(0), rtol=1e-5)


def test_encoded_keeps_file_bytes(tmp_path):
    make_images(tmp_path)
    n = convert_imageset(f"{tmp_path}/imgs/", str(tmp_path / "list.txt"), str(tmp_path / "db"), encoded=True,
                         shuffle=True, seed=1, progress=False, log=lambda m: None)
    assert n == 5
    r = DatumReader(tmp_path / "db")
    for k in r.keys:
        name = k.decode()[9:]
        d = r.get(k)
        assert d.encoded
        assert d.data == (tmp_path / "imgs" / name).read_bytes()  # same extension, no resize: file as is
    # re-encode to jpg when asked
    convert_imageset(f"{tmp_path}/imgs/", str(tmp_path / "list.txt"), str(tmp_path / "db2"), encoded=True,
                     encode_type="jpg", gray=True, progress=False, log=lambda m: None)
    d = DatumReader(tmp_path / "db2").datum(0)
    assert d.data[:2] == b"\xff\xd8"
    import pytest

    from fashioncaffe.errors import FashionCaffeError

    with pytest.raises(FashionCaffeError, match="00000001_p 1.png"):  # sizes differ: named
        compute_image_mean(str(tmp_path / "db2"), None, workers=1, progress=False, log=lambda m: None)
