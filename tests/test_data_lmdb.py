"""Datum LMDB writer/reader: round trips and BVLC's byte layout."""
import cv2
import lmdb
import numpy as np
import pytest

from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.lmdb_datum import (DatumReader, DatumWriter, array_to_datum, datum_to_array, encoded_datum,
                                        float_datum, make_key)


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def bvlc_raw_datum_bytes(c, h, w, data, label):
    """Serialize a Datum by hand, field by field, as BVLC's protobuf does (fields 1,2,3,4,5)."""
    return (b"\x08" + _varint(c) + b"\x10" + _varint(h) + b"\x18" + _varint(w)
            + b"\x22" + _varint(len(data)) + data + b"\x28" + _varint(label))


def test_make_key():
    assert make_key(7, "img/a b.jpg") == b"00000007_img/a b.jpg"


def test_raw_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (3, 5, 7), dtype=np.uint8) for _ in range(5)]
    with DatumWriter(tmp_path / "db") as w:
        for i, im in enumerate(imgs):
            w.put(make_key(i, f"f{i}.png"), array_to_datum(im, label=i + 10))
    r = DatumReader(tmp_path / "db")
    assert len(r) == 5 and r.keys[0] == b"00000000_f0.png"
    for i, (k, d) in enumerate(r):
        assert d.label == i + 10 and not d.encoded
        np.testing.assert_array_equal(datum_to_array(d), imgs[i])


def test_encoded_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)  # HWC BGR
    ok, buf = cv2.imencode(".png", img)
    with DatumWriter(tmp_path / "db") as w:
        w.put(make_key(0, "x.png"), encoded_datum(buf.tobytes(), 3))
    d = DatumReader(tmp_path / "db").datum(0)
    assert d.encoded and d.label == 3
    np.testing.assert_array_equal(datum_to_array(d), img.transpose(2, 0, 1))
    assert datum_to_array(d, color=False).shape == (1, 9, 11)


def test_float_datum(tmp_path):
    with DatumWriter(tmp_path / "db") as w:
        w.put(make_key(0, "a"), float_datum([1.5, -1, 0]))
    d = DatumReader(tmp_path / "db").datum(0)
    assert (d.channels, d.height, d.width) == (3, 1, 1)
    np.testing.assert_array_equal(datum_to_array(d).ravel(), [1.5, -1, 0])


def test_reads_bvlc_bytes(tmp_path):
    """An LMDB written with raw lmdb calls and hand-serialized Datums, as BVLC Caffe writes them."""
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    env = lmdb.open(str(tmp_path / "bvlc"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"00000000_a.jpg", bvlc_raw_datum_bytes(2, 3, 4, img.tobytes(), 7))
    env.close()
    d = DatumReader(tmp_path / "bvlc").datum(0)
    assert d.label == 7
    np.testing.assert_array_equal(datum_to_array(d), img)
    # and our writer's bytes are exactly BVLC's serialisation
    assert array_to_datum(img, 7).SerializeToString() == bvlc_raw_datum_bytes(2, 3, 4, img.tobytes(), 7)


def test_map_growth(tmp_path):
    big = np.zeros((3, 100, 100), np.uint8)
    with DatumWriter(tmp_path / "db", map_size=64 * 1024, commit_every=50) as w:
        for i in range(60):
            w.put(make_key(i, "x"), array_to_datum(big))
    assert len(DatumReader(tmp_path / "db")) == 60


def test_errors(tmp_path):
    with pytest.raises(FashionCaffeError, match="does not exist"):
        DatumReader(tmp_path / "nope")
    env = lmdb.open(str(tmp_path / "empty"), map_size=1 << 20)
    env.close()
    with pytest.raises(FashionCaffeError, match="empty"):
        DatumReader(tmp_path / "empty")
    with DatumWriter(tmp_path / "db") as w:
        w.put(b"k", encoded_datum(b"not an image"))
    with pytest.raises(FashionCaffeError, match="cannot be decoded"):
        datum_to_array(DatumReader(tmp_path / "db").datum(0), what="k")
    with pytest.raises(FashionCaffeError, match="already exists"):
        DatumWriter(tmp_path / "db")
