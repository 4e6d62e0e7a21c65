"""BVLC's ``convert_imageset`` and ``compute_image_mean``, as functions and command lines.

``convert_imageset ROOTFOLDER LISTFILE DB_NAME`` reads ``LISTFILE`` lines ``<path> <label>``, loads
``ROOTFOLDER + path`` and writes one Datum per image under the key ``%08d_<path>`` (the line's
position after the optional shuffle).  Images are stored raw (BGR CHW uint8) or, with ``--encoded``,
as image files: the original bytes when no resize/colour change is needed and the extension already
matches ``--encode_type``, otherwise re-encoded — exactly BVLC's ``ReadImageToDatum``.  Files that
cannot be read are skipped with a warning, as BVLC does (the key numbers keep their gaps).

``compute_image_mean DB [MEAN_FILE]`` averages every image of a Datum LMDB (decoding encoded ones)
into a (1, C, H, W) BlobProto with the legacy num/channels/height/width fields, as BVLC writes it,
and prints the per-channel means.

Both decode in worker processes and show progress bars.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .errors import FashionCaffeError, fail
from .forking import one_opencv_thread, opencv_pool_paused

__all__ = ["read_image_to_datum", "convert_imageset", "compute_image_mean", "main_convert_imageset",
           "main_compute_image_mean", "gflags_argv"]


def _match_ext(fn, enc):
    """BVLC's matchExt: the extension equals the encoding, or the encoding is "jpg" for a ".jpeg" file
    (not the other way round: "jpeg" for a ".jpg" file re-encodes)."""
    ext = os.path.splitext(fn)[1][1:].lower()
    enc = enc.lower()
    return ext == enc or (enc == "jpg" and ext == "jpeg")


def read_image_to_datum(path, label=0, resize_height=0, resize_width=0, is_color=True, encoding="",
                        bbox=None, want_pixels=False):
    """BVLC's ReadImageToDatum (+ an optional crop box (x1, y1, x2, y2) applied before the resize).

    Returns ``(datum_bytes, info)`` where ``info`` has ``shape`` (C, H, W) of the stored image,
    ``orig`` (H, W) of the file, ``box`` (x1, y1, x2, y2) actually cropped, and with ``want_pixels``
    the stored pixels as ``pixels`` (HWC uint8).  ``None`` when the file cannot be read or decoded.
    """
    import cv2

    from .formats.lmdb_datum import array_to_datum, encoded_datum, read_image

    if not os.path.isfile(path):
        return None
    img = read_image(path, is_color)
    if img is None:
        return None
    oh, ow = img.shape[:2]
    box = (0, 0, ow, oh)
    if bbox is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in bbox)
        x1, y1 = max(0, min(x1, ow - 1)), max(0, min(y1, oh - 1))
        x2, y2 = max(x1 + 1, min(x2, ow)), max(y1 + 1, min(y2, oh))
        box = (x1, y1, x2, y2)
        if box != (0, 0, ow, oh):
            img = img[y1:y2, x1:x2]
    changed = box != (0, 0, ow, oh)
    if resize_height > 0 and resize_width > 0:
        img = cv2.resize(img, (int(resize_width), int(resize_height)))
        changed = True
    if img.ndim == 2:
        img = img[:, :, None]
    shape = (img.shape[2], img.shape[0], img.shape[1])
    if encoding:
        if (img.shape[2] == 3) == bool(is_color) and not changed and _match_ext(path, encoding):
            with open(path, "rb") as f:
                raw = f.read()
            # BVLC's ReadFileToDatum leaves channels/height/width unset
            value = encoded_datum(raw, label).SerializeToString()
        else:
            ok, buf = cv2.imencode("." + encoding.lower(), img)
            if not ok:
                raise fail(f"{path}: OpenCV cannot encode the image as {encoding!r}.")
            value = encoded_datum(buf.tobytes(), label).SerializeToString()
    else:
        value = array_to_datum(np.ascontiguousarray(img.transpose(2, 0, 1)), label).SerializeToString()
    info = {"shape": shape, "orig": (oh, ow), "box": box}
    if want_pixels:
        info["pixels"] = img
    return value, info


def gflags_argv(argv, bool_flags):
    """Accept gflags spellings: ``-flag=v`` → ``--flag=v``; ``--flag=true|false`` and ``--noflag`` for
    boolean flags."""
    out = []
    for a in argv:
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and not a[1:2].isdigit():
            a = "-" + a
        if a.startswith("--"):
            name, eq, val = a[2:].partition("=")
            if name in bool_flags:
                if not eq or val.lower() in ("1", "true", "yes", "t", "y"):
                    out.append("--" + name)
                elif val.lower() not in ("0", "false", "no", "f", "n"):
                    raise SystemExit(f"--{name}: expected true or false, got {val!r}")
                continue
            if name.startswith("no") and name[2:] in bool_flags and not eq:
                continue
        out.append(a)
    return out


def _pool(workers):
    import multiprocessing as mp

    if workers <= 1:
        return None
    with opencv_pool_paused():
        return mp.get_context("fork").Pool(workers, initializer=one_opencv_thread)


def _convert_one(job):
    line_id, path, label, rh, rw, is_color, enc = job
    try:
        res = read_image_to_datum(path, label, rh, rw, is_color, enc)
    except FashionCaffeError as e:
        return line_id, None, str(e)
    if res is None:
        return line_id, None, f"Could not open or find file {path}"
    return line_id, res[0], res[1]["shape"]


def convert_imageset(root, list_file, db, resize_height=0, resize_width=0, shuffle=False, encoded=False,
                     encode_type="", gray=False, check_size=False, seed=None, workers=None, progress=True,
                     overwrite=False, log=print):
    """Write the LMDB; returns the number of Datums written."""
    import random

    from .formats.lmdb_datum import DatumWriter, make_key
    from .data_pipeline.sources import read_image_list

    lines = read_image_list(list_file)
    if shuffle:
        random.Random(seed).shuffle(lines)
    log(f"A total of {len(lines)} images.")
    is_color = not gray
    jobs = []
    for line_id, (name, label) in enumerate(lines):
        enc = encode_type
        if encoded and not enc:
            p = name.rfind(".")
            if p < 0:
                log(f"Failed to guess the encoding of '{name}'")
            enc = name[p + 1:].lower() if p >= 0 else ""
        jobs.append((line_id, root + name, label, resize_height, resize_width, is_color, enc))
    workers = workers if workers is not None else max(1, min(8, (os.cpu_count() or 1)))
    pool = _pool(workers)
    results = pool.imap(_convert_one, jobs, chunksize=16) if pool else map(_convert_one, jobs)
    from tqdm import tqdm

    count = 0
    data_size = None
    try:
        with DatumWriter(db, overwrite=overwrite) as w:
            for line_id, value, shape in tqdm(results, total=len(jobs), disable=not progress, unit="img",
                                              desc=os.path.basename(os.path.normpath(db))):
                if value is None:
                    log(shape)  # the warning text
                    continue
                if check_size:
                    size = int(np.prod(shape))
                    if data_size is None:
                        data_size = size
                    elif size != data_size:
                        raise fail(f"{lines[line_id][0]} (line {line_id + 1} after shuffle): incorrect data "
                                   f"field size {size}; the first image has {data_size}.")
                w.put(make_key(line_id, lines[line_id][0]), value)
                count += 1
                if count % 1000 == 0 and not progress:
                    log(f"Processed {count} files.")
    finally:
        if pool:
            pool.terminate()
    log(f"Processed {count} files.")
    if count == 0:
        # BVLC exits 0 here with an empty database; nothing was converted, so say so and leave none behind
        import shutil

        shutil.rmtree(db, ignore_errors=True)
        raise fail(f"convert_imageset: none of the {len(lines)} images listed in {list_file} could be read (the "
                   f"first failure is above; paths are root_folder '{root}' + the listed name). No database was "
                   f"written to {db}.")
    if count < len(lines):
        log(f"Warning: {len(lines) - count} of the {len(lines)} listed images could not be read and are not in {db} "
            "(see the messages above).")
    return count


def _mean_chunk(job):
    from .formats.lmdb_datum import DatumReader, datum_to_array

    path, keys = job
    r = DatumReader(path, keys=keys)
    acc, shape = None, None
    for k in keys:
        d = r.get(k)
        key = k.decode("utf-8", "replace")
        arr = datum_to_array(d, None, what=f"{path}: entry {key!r}")
        if acc is None:
            acc, shape = np.zeros(arr.shape, np.float64), arr.shape
        elif arr.shape != shape:
            return ("error", f"{path}: entry {key!r} has shape {list(arr.shape)} but the earlier entries have "
                             f"{list(shape)}; compute_image_mean needs images of one size.")
        acc += arr
    return ("ok", acc, len(keys))


def compute_image_mean(db, mean_file=None, workers=None, progress=True, log=print):
    """Mean image (C, H, W) float32 of a Datum LMDB; written to ``mean_file`` when given."""
    from tqdm import tqdm

    from .formats.blobproto import write_binaryproto
    from .formats.lmdb_datum import DatumReader

    reader = DatumReader(db)
    keys = reader.keys
    chunk = 256
    jobs = [(reader.path, keys[i:i + chunk]) for i in range(0, len(keys), chunk)]
    workers = workers if workers is not None else max(1, min(8, (os.cpu_count() or 1)))
    pool = _pool(workers if len(jobs) > 1 else 1)
    total, count, shape = None, 0, None
    try:
        results = pool.imap(_mean_chunk, jobs) if pool else map(_mean_chunk, jobs)
        with tqdm(total=len(keys), disable=not progress, unit="img", desc="mean") as bar:
            for res in results:
                if res[0] == "error":
                    raise fail(res[1])
                _, acc, n = res
                if total is None:
                    total, shape = acc, acc.shape
                elif acc.shape != shape:
                    raise fail(f"{db}: entries have different shapes ({list(shape)} and {list(acc.shape)}); "
                               f"compute_image_mean needs images of one size.")
                else:
                    total += acc
                count += n
                bar.update(n)
    except FashionCaffeError:
        raise
    finally:
        if pool:
            pool.terminate()
    mean = (total / count).astype(np.float32)
    log(f"Processed {count} files.")
    log(f"Number of channels: {mean.shape[0]}")
    for c in range(mean.shape[0]):
        log(f"mean_value channel [{c}]: {float(mean[c].mean()):g}")
    if mean_file:
        log(f"Write to {mean_file}")
        write_binaryproto(mean_file, mean[None], legacy_4d=True)
    return mean


_CONVERT_BOOLS = {"gray", "shuffle", "check_size", "encoded"}


def main_convert_imageset(argv=None):
    argv = gflags_argv(sys.argv[1:] if argv is None else argv, _CONVERT_BOOLS)
    ap = argparse.ArgumentParser(
        prog="convert_imageset",
        description="Convert a set of images to a Datum LMDB (BVLC Caffe's convert_imageset). LISTFILE lines "
                    "are '<relative path> <label>'.")
    ap.add_argument("root_folder")
    ap.add_argument("list_file")
    ap.add_argument("db_name")
    ap.add_argument("--gray", action="store_true", help="load images in grayscale")
    ap.add_argument("--shuffle", action="store_true", help="randomly shuffle the order of images")
    ap.add_argument("--backend", default="lmdb", help="only lmdb is supported")
    ap.add_argument("--resize_width", type=int, default=0)
    ap.add_argument("--resize_height", type=int, default=0)
    ap.add_argument("--check_size", action="store_true", help="check that all datums have the same size")
    ap.add_argument("--encoded", action="store_true", help="store the encoded image in the datum")
    ap.add_argument("--encode_type", default="", help="png, jpg, ... (default: the file's own)")
    ap.add_argument("--seed", type=int, default=None, help="seed of --shuffle (fashioncaffe extension)")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (fashioncaffe extension)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing DB (fashioncaffe extension)")
    a = ap.parse_args(argv)
    if a.backend.lower() != "lmdb":
        print(f"convert_imageset: backend {a.backend!r} is not supported; use lmdb.", file=sys.stderr)
        return 2
    try:
        convert_imageset(a.root_folder, a.list_file, a.db_name, a.resize_height, a.resize_width, a.shuffle,
                         a.encoded or bool(a.encode_type), a.encode_type, a.gray, a.check_size, a.seed, a.workers,
                         progress=sys.stderr.isatty(), overwrite=a.overwrite,
                         log=lambda m: print(m, file=sys.stderr))
    except FashionCaffeError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


def main_compute_image_mean(argv=None):
    argv = gflags_argv(sys.argv[1:] if argv is None else argv, set())
    ap = argparse.ArgumentParser(prog="compute_image_mean",
                                 description="Compute the mean image of a Datum LMDB (BVLC's compute_image_mean).")
    ap.add_argument("input_db")
    ap.add_argument("output_file", nargs="?", default=None)
    ap.add_argument("--backend", default="lmdb")
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args(argv)
    if a.backend.lower() != "lmdb":
        print(f"compute_image_mean: backend {a.backend!r} is not supported; use lmdb.", file=sys.stderr)
        return 2
    try:
        compute_image_mean(a.input_db, a.output_file, a.workers, progress=sys.stderr.isatty(),
                           log=lambda m: print(m, file=sys.stderr))
    except FashionCaffeError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0
