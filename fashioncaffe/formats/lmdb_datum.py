"""Caffe Datum LMDBs: writing and reading them in BVLC Caffe's byte layout.

A BVLC Caffe image database is an LMDB *directory* (``data.mdb`` + ``lock.mdb``) whose values are
serialised ``Datum`` messages:

* raw: ``channels``, ``height``, ``width`` and ``data`` = the pixels as uint8 in **BGR, CHW** order;
* encoded: ``data`` = the bytes of a JPEG/PNG file and ``encoded: true`` (channels/height/width
  unset, as ``convert_imageset --encoded`` writes them);
* float: ``float_data`` = C·H·W floats and ``data`` empty (our companion label databases use
  ``channels = K, height = width = 1``).

``convert_imageset`` names the entries ``%08d_<filename>`` (:func:`make_key`); LMDB keeps keys in
byte order, so a Data layer reads the entries in list-file order.

The writer grows the LMDB map as needed (BVLC's ``db_lmdb.cpp`` doubles it on ``MDB_MAP_FULL``) and
commits every ``commit_every`` entries; the reader opens the database read-only without locking, so
any number of processes (our prefetch workers) read it at once.
"""
from __future__ import annotations

import os
import shutil

import numpy as np

from ..errors import fail
from .opencv_errors import opencv_decoding

__all__ = [
    "make_key", "array_to_datum", "encoded_datum", "float_datum", "datum_to_array", "decode_image",
    "imread_flags", "read_image",
    "datum_shape", "DatumWriter", "DatumReader", "open_env", "close_env", "parse_datum",
]

_INITIAL_MAP = 1 << 30  # 1 GiB; sparse on Linux, doubled whenever it fills up


def _pb():
    from ..proto import caffe_pb2

    return caffe_pb2


def make_key(index: int, filename: str) -> bytes:
    """The key BVLC's convert_imageset writes: ``format_int(line_id, 8) + "_" + filename``."""
    return f"{int(index):08d}_{filename}".encode("utf-8")


# ------------------------------------------------------------------------------------------------
# Datum <-> arrays
def array_to_datum(arr, label: int = 0):
    """A raw Datum from a CHW array: uint8 goes to ``data``, any float dtype to ``float_data``.

    A 2-D array is taken as one channel (H, W).  Caffe's ``CVMatToDatum`` stores BGR images;
    give the array in BGR channel order.
    """
    pb = _pb()
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise fail(f"array_to_datum: expected a CHW (or HW) array, got shape {list(arr.shape)}.")
    d = pb.Datum()
    d.channels, d.height, d.width = (int(s) for s in arr.shape)
    if arr.dtype == np.uint8:
        d.data = np.ascontiguousarray(arr).tobytes()
    else:
        d.float_data.extend(np.asarray(arr, dtype=np.float32).ravel().tolist())
    d.label = int(label)
    return d


def encoded_datum(file_bytes: bytes, label: int = 0, shape=None):
    """An encoded Datum (JPEG/PNG bytes).  BVLC leaves channels/height/width unset; pass ``shape``
    (C, H, W) to record them anyway (BVLC ignores them when decoding)."""
    pb = _pb()
    d = pb.Datum()
    d.data = bytes(file_bytes)
    d.encoded = True
    d.label = int(label)
    if shape is not None:
        d.channels, d.height, d.width = (int(s) for s in shape)
    return d


def float_datum(values, label: int = 0, shape=None):
    """A float_data Datum; default shape (K, 1, 1) as our companion label databases use."""
    pb = _pb()
    v = np.asarray(values, dtype=np.float32).ravel()
    d = pb.Datum()
    c, h, w = shape if shape is not None else (v.size, 1, 1)
    if c * h * w != v.size:
        raise fail(f"float_datum: {v.size} values do not fill shape {[c, h, w]}.")
    d.channels, d.height, d.width = int(c), int(h), int(w)
    # a packed-field wire copy avoids a per-element Python loop for big arrays
    d.float_data.extend(v.tolist())
    d.label = int(label)
    return d


def imread_flags(color: bool | None) -> int:
    """The OpenCV flags BVLC Caffe 1.0 decodes an image file with.

    * ``None`` -- an encoded Datum read natively (``src/caffe/util/io.cpp`` DecodeDatumToCVMatNative:
      ``cv::imdecode(vec_data, -1)``, used by ``data_transformer.cpp`` Transform / InferBlobShape when
      neither force_color nor force_gray is set): ``IMREAD_UNCHANGED``, the file as stored -- grey 1
      channel, BGR 3, BGRA 4 (alpha kept), its bit depth, never rotated;
    * ``True`` / ``False`` -- ``CV_LOAD_IMAGE_COLOR`` / ``CV_LOAD_IMAGE_GRAYSCALE`` (DecodeDatumToCVMat
      under transform_param force_color / force_gray; ReadImageToCVMat's ``cv::imread`` for ImageData's
      is_color and convert_imageset's ``--gray``): 3-channel BGR / 1-channel grey, 8 bits.

    EXIF orientation: BVLC 1.0 builds against OpenCV 2.4 by default, which never applies it; OpenCV
    >= 3.1 applies it in ``imread`` (later also ``imdecode``) with COLOR / GRAYSCALE but never with
    UNCHANGED.  We add ``IMREAD_IGNORE_ORIENTATION`` so every path decodes the stored pixel grid: as
    BVLC 1.0 on OpenCV 2.4 everywhere, and as every BVLC build on encoded LMDBs read natively.  (A BVLC
    built against OpenCV >= 3.1 turns an EXIF-rotated JPEG upright in ImageData, in a raw
    convert_imageset and under force_color / force_gray; rotate such files beforehand to agree with it.)
    """
    import cv2

    if color is None:
        return cv2.IMREAD_UNCHANGED
    return (cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_IGNORE_ORIENTATION


def _check_8bit(img, what):
    if img.dtype != np.uint8:
        bits = img.dtype.itemsize * 8
        raise fail(f"{what}: the image is {bits}-bit ({img.dtype}); BVLC Caffe reads encoded images natively "
                   f"(cv::imdecode(buf, -1) keeps the depth) and then aborts on CHECK(cv_img.depth() == CV_8U) "
                   f"'Image data type must be unsigned byte'. Store it as 8-bit, or set transform_param "
                   f"force_color / force_gray (which decode to 8 bits).")


def decode_image(buf, color: bool | None = None, what: str = "image") -> np.ndarray:
    """Decode image-file bytes to a BGR(A) **HWC** uint8 array (H, W, C), as BVLC Caffe does.

    ``color`` True → 3 channels (force_color), False → 1 channel (force_gray), None → as stored
    (native: 1, 3 or 4 channels); see :func:`imread_flags`.  Undecodable bytes, and a 16-bit image
    read natively (BVLC aborts on it), raise naming ``what``.
    """
    import cv2

    arr = np.frombuffer(buf, dtype=np.uint8)
    with opencv_decoding(what, arr):
        img = cv2.imdecode(arr, imread_flags(color)) if arr.size else None
    if img is None:
        raise fail(f"{what}: the encoded image ({arr.size} bytes) cannot be decoded as JPEG/PNG.")
    _check_8bit(img, what)
    if img.ndim == 2:
        img = img[:, :, None]
    return img


def read_image(path, is_color: bool = True):
    """BVLC's ReadImageToCVMat before its resize: ``cv::imread`` with is_color's flags (HW or HWC uint8),
    or None where the file cannot be opened or decoded (BVLC logs "Could not open or find file").  A
    header claiming a size over OpenCV's limits raises naming the file."""
    import cv2

    with opencv_decoding(str(path), str(path)):
        return cv2.imread(str(path), imread_flags(bool(is_color)))


def datum_shape(datum, what: str = "datum") -> tuple:
    """(C, H, W) recorded in a raw Datum (decode encoded ones to learn theirs)."""
    return (int(datum.channels), int(datum.height), int(datum.width))


def datum_to_array(datum, color: bool | None = None, what: str = "datum", hwc: bool = False) -> np.ndarray:
    """Pixels of a Datum: uint8 (from ``data`` / encoded bytes) or float32 (``float_data``), CHW.

    ``color`` applies to encoded Datums only (as Caffe's force_color / force_gray).  ``hwc=True``
    returns encoded images in their decoded HWC layout (saves a transpose when the caller crops).
    """
    if datum.encoded:
        img = decode_image(datum.data, color, what)
        return img if hwc else np.ascontiguousarray(img.transpose(2, 0, 1))
    c, h, w = int(datum.channels), int(datum.height), int(datum.width)
    n = c * h * w
    if datum.data:
        if len(datum.data) != n:
            raise fail(f"{what}: Datum data holds {len(datum.data)} bytes but channels × height × width = "
                       f"{c} × {h} × {w} = {n}.")
        arr = np.frombuffer(datum.data, dtype=np.uint8).reshape(c, h, w)
    else:
        if len(datum.float_data) != n:
            raise fail(f"{what}: Datum float_data holds {len(datum.float_data)} values but channels × height × "
                       f"width = {c} × {h} × {w} = {n}.")
        if n == 0:
            raise fail(f"{what}: Datum is empty (no data, no float_data).")
        arr = np.asarray(datum.float_data, dtype=np.float32).reshape(c, h, w)
    return np.ascontiguousarray(arr.transpose(1, 2, 0)) if hwc else arr


# ------------------------------------------------------------------------------------------------
# LMDB access
_ENVS: dict = {}   # realpath -> (pid, env): one read-only handle per process (py-lmdb allows no more)


def open_env(path, readonly=True, map_size=None):
    """Open an LMDB environment: a directory (Caffe's layout) or a single file.

    Read-only handles are shared per process and reopened after a fork (a handle inherited from the
    parent must not be used, and py-lmdb refuses a second handle on the same path).
    """
    import lmdb

    path = os.fspath(path)
    real = os.path.realpath(path)
    cached = _ENVS.get(real)
    if readonly:
        if cached is not None:
            pid, env = cached
            if pid == os.getpid():
                return env
            try:
                env.close()  # the parent's handle, inherited through fork
            except Exception:
                pass
            del _ENVS[real]
        if not os.path.exists(path):
            raise fail(f"{path}: the LMDB does not exist (data_param.source must name a directory written by "
                       f"convert_imageset or fashioncaffe's converters).")
        subdir = os.path.isdir(path)
        if subdir and not os.path.exists(os.path.join(path, "data.mdb")):
            raise fail(f"{path}: is a directory but holds no data.mdb, so it is not an LMDB.")
        try:
            env = lmdb.open(path, readonly=True, lock=False, readahead=False, subdir=subdir,
                            max_readers=4096, meminit=False)
        except lmdb.Error as e:
            raise fail(f"{path}: cannot be opened as an LMDB ({e}).") from None
        _ENVS[real] = (os.getpid(), env)
        return env
    close_env(path)
    return lmdb.open(path, map_size=map_size or _INITIAL_MAP, subdir=True, meminit=False, map_async=True,
                     writemap=False, max_dbs=0)


def close_env(path) -> None:
    """Close this process's shared read-only handle on ``path`` (if any)."""
    cached = _ENVS.pop(os.path.realpath(os.fspath(path)), None)
    if cached is not None:
        try:
            cached[1].close()
        except Exception:
            pass


class DatumWriter:
    """Write Datums into a new LMDB directory, growing the map when it fills up.

        with DatumWriter("train_lmdb") as w:
            w.put(make_key(i, name), datum)      # a Datum or its serialised bytes

    An existing database is an error unless ``overwrite=True`` (BVLC's convert_imageset refuses too).
    """

    def __init__(self, path, overwrite=False, commit_every=1000, map_size=None):
        path = os.fspath(path)
        if os.path.exists(path):
            if not overwrite:
                raise fail(f"{path}: already exists; remove it first (or pass overwrite) — an LMDB is never "
                           f"appended to by the converters.")
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.env = open_env(path, readonly=False, map_size=map_size)
        self.commit_every = int(commit_every)
        self._pending: list[tuple[bytes, bytes]] = []
        self.count = 0
        self._closed = False

    def put(self, key, datum) -> None:
        if isinstance(key, str):
            key = key.encode("utf-8")
        value = datum if isinstance(datum, (bytes, bytearray)) else datum.SerializeToString()
        self._pending.append((bytes(key), bytes(value)))
        self.count += 1
        if len(self._pending) >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        import lmdb

        if not self._pending:
            return
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for k, v in self._pending:
                        txn.put(k, v)
                break
            except lmdb.MapFullError:
                # the transaction was aborted; double the map and write the same entries again
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
        self._pending.clear()

    def close(self) -> None:
        if self._closed:
            return
        self.commit()
        self.env.sync()
        self.env.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.close()
        else:  # keep what was written, but do not hide the error
            try:
                self.close()
            except Exception:
                pass
        return False


class DatumReader:
    """Read a Datum LMDB: ``len``, ``keys`` (in DB order), ``get(key)``, ``datum(i)``, iteration.

    The key list is read once (a key-only cursor pass); lookups by key are B-tree searches, so any
    position is cheap to reach.  Safe to use from several processes: each opens its own handle on
    first use after a fork (see :func:`open_env`).
    """

    def __init__(self, path, keys=None):
        self.path = os.fspath(path)
        env = self.env
        if keys is None:
            with env.begin(buffers=False) as txn:
                keys = list(txn.cursor().iternext(keys=True, values=False))
        self.keys = keys
        if not self.keys:
            raise fail(f"{self.path}: the LMDB is empty (no entries).")

    @property
    def env(self):
        return open_env(self.path)

    def __len__(self):
        return len(self.keys)

    def get_bytes(self, key: bytes) -> bytes:
        with self.env.begin(buffers=False) as txn:
            v = txn.get(key)
        if v is None:
            raise fail(f"{self.path}: has no entry with key {key.decode('utf-8', 'replace')!r}.")
        return v

    def get(self, key):
        if isinstance(key, str):
            key = key.encode("utf-8")
        return parse_datum(self.get_bytes(key), key, self.path)

    def datum(self, i: int):
        return self.get(self.keys[i])

    def many(self, indices):
        """Datums at these positions, read in one transaction."""
        out = []
        with self.env.begin(buffers=False) as txn:
            for i in indices:
                k = self.keys[i]
                v = txn.get(k)
                if v is None:
                    raise fail(f"{self.path}: entry {k.decode('utf-8', 'replace')!r} vanished while reading.")
                out.append((k, v))
        return out

    def __iter__(self):
        with self.env.begin(buffers=False) as txn:
            for k, v in txn.cursor():
                yield k, parse_datum(v, k, self.path)

    def close(self):
        close_env(self.path)


def parse_datum(value: bytes, key=b"?", path="?"):
    pb = _pb()
    d = pb.Datum()
    try:
        d.ParseFromString(value)
    except Exception as e:
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        raise fail(f"{path}: entry {k!r} is not a serialised Datum ({type(e).__name__}: {e}).") from None
    return d
