"""Shared machinery of the dataset converters: list-file parsing with bad-row accounting, the
image + companion-label LMDB writer of one split, and the command-line options every converter has.

Output of a converter, per split ``<out>/<split>/``::

    images_lmdb/        Datums (raw BGR CHW uint8, or --encoded JPEG/PNG), key %08d_<image path>,
                        label = the split's primary integer label (see meta.json "label")
    <target>_lmdb/      companion float_data Datums (channels = K, height = width = 1), same keys
    meta.json           label names, groups, attribute types, encodings, counts, source, synthetic
    mean.binaryproto    mean image of the split (only with --resize, so all images share a size)

See data_prep/README.md for the conventions.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import json
import multiprocessing as mp
import os
import sys

import numpy as np

from fashioncaffe.errors import FashionCaffeError, fail
from fashioncaffe.forking import one_opencv_thread, opencv_pool_paused
from fashioncaffe.formats.text import read_utf8_text

# landmark slots of the unified 8-landmark layout (DeepFashion's full-body order)
LANDMARK_SLOTS = ["left collar", "right collar", "left sleeve", "right sleeve",
                  "left waistline", "right waistline", "left hem", "right hem"]
# clothes type (1 upper, 2 lower, 3 full) -> slots of the row's landmarks, in the row's order
LANDMARK_LAYOUT = {1: [0, 1, 2, 3, 6, 7], 2: [4, 5, 6, 7], 3: [0, 1, 2, 3, 4, 5, 6, 7]}
VIS_ABSENT = 3  # visibility code of a slot the clothes type does not have


class BadRows:
    """Counts, reports and (with ``--on-bad-row fail``) stops at bad input rows."""

    def __init__(self, mode="skip", log=None, max_print=20):
        if mode not in ("skip", "fail"):
            raise fail(f"--on-bad-row must be 'skip' or 'fail', got {mode!r}.")
        self.mode = mode
        self.count = 0
        self.by_reason: dict[str, int] = {}
        self.examples: list[str] = []
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self.max_print = max_print
        self.images_written = 0   # what write_split stored, for finish's "nothing converted" check

    def __call__(self, path, lineno, reason, kind="bad row"):
        msg = f"{path}:{lineno}: {reason}" if lineno else f"{path}: {reason}"
        if self.mode == "fail":
            raise fail(f"{msg} (stopping: --on-bad-row fail; use --on-bad-row skip to skip such rows).")
        self.count += 1
        self.by_reason[kind] = self.by_reason.get(kind, 0) + 1
        if len(self.examples) < 100:
            self.examples.append(msg)
        if self.count <= self.max_print:
            self.log(f"skipping {kind}: {msg}")
        elif self.count == self.max_print + 1:
            self.log("(further bad rows are counted, not printed)")

    def summary(self):
        return {"count": self.count, "by_reason": dict(self.by_reason), "examples": self.examples[:20]}


def open_text(path, newline=None):
    """A dataset's text file, for ``with open_text(p) as f``: read as UTF-8 with an error naming the
    file and line of the first byte that is not (``newline`` as ``open``'s: "" for the csv module)."""
    return io.StringIO(read_utf8_text(path, "dataset list file"), newline=newline)


def read_json(path):
    """A dataset's JSON file, with errors naming the file and line."""
    try:
        return json.loads(read_utf8_text(path, "JSON file"))
    except json.JSONDecodeError as e:
        raise fail(f"{path}:{e.lineno}: column {e.colno}: not valid JSON ({e.msg}).") from None


def find_file(root, names, required=True, what="list file"):
    """First existing ``root/<name>`` among ``names`` (relative paths)."""
    for n in names:
        p = os.path.join(root, n)
        if os.path.isfile(p):
            return p
    if required:
        raise fail(f"{root}: cannot find the {what} (looked for {', '.join(names)}).")
    return None


def read_df_list(path, bad: BadRows, min_cols=None, ncols=None, tail_name=False):
    """Read a DeepFashion list file: a count line, a header line, rows split on runs of spaces.

    Yields ``(lineno, fields)``; ``tail_name=True`` treats everything before the last column as one
    name (attribute / category names contain single spaces).  Rows with the wrong number of columns
    go to ``bad``.  Returns the header through ``read_df_list.header`` of the generator's first item.
    """
    with open_text(path) as f:
        lines = f.read().splitlines()
    if len(lines) < 2:
        raise fail(f"{path}: expected a count line and a header line, the file has {len(lines)} line(s).")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise fail(f"{path}:1: the first line must be the number of rows, got {lines[0]!r}.") from None
    header = lines[1].split()
    rows = []
    for lineno, line in enumerate(lines[2:], 3):
        if not line.strip():
            continue
        if tail_name:
            parts = line.rstrip().rsplit(None, 1)
            if len(parts) != 2:
                bad(path, lineno, f"expected '<name> <value>', got {line.strip()!r}", "wrong column count")
                continue
            rows.append((lineno, [parts[0].strip(), parts[1]]))
            continue
        fields = line.split()
        if (ncols is not None and len(fields) != ncols) or (min_cols is not None and len(fields) < min_cols):
            want = ncols if ncols is not None else f"at least {min_cols}"
            bad(path, lineno, f"expected {want} columns, got {len(fields)}", "wrong column count")
            continue
        rows.append((lineno, fields))
    n_data = sum(1 for ln in lines[2:] if ln.strip())
    if declared != n_data:
        bad(path, 1, f"the count line says {declared} rows but the file has {n_data}", "count mismatch")
    return header, rows


def split_of(name, val_fraction, test_fraction, seed=0):
    """Deterministic train/val/test assignment from a hash of the image name."""
    h = int.from_bytes(hashlib.sha1(f"{seed}:{name}".encode()).digest()[:8], "little") / 2.0 ** 64
    if h < test_fraction:
        return "test"
    if h < test_fraction + val_fraction:
        return "val"
    return "train"


SYNTHETIC_MARKERS = ("SYNTHETIC", "WARDROBE.json", "wardrobe.json")
# first line of the README.md the wardrobe generator writes at its root (data_prep/wardrobe/generate.py)
SYNTHETIC_README_TAGS = ("SYNTHETIC DATA", "# Synthetic wardrobe")


def _readme_says_synthetic(path):
    """True when the first non-empty line of ``path`` (a README.md) declares synthetic data."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    return any(t in line for t in SYNTHETIC_README_TAGS)
    except OSError:
        pass
    return False


def synthetic_marker(root, levels=2):
    """Path of the marker that makes ``root`` synthetic, or None.

    Looks in the dataset folder and its parents up to ``levels`` levels (the wardrobe writes its
    marker at the wardrobe root, e.g. ``W/README.md`` for ``W/DeepFashion/In-shop``): a
    ``SYNTHETIC`` / ``WARDROBE.json`` / ``wardrobe.json`` file, or a ``README.md`` whose first line
    says ``SYNTHETIC DATA`` / ``# Synthetic wardrobe``."""
    d = os.path.abspath(root)
    for _ in range(levels + 1):
        for n in SYNTHETIC_MARKERS:
            if os.path.exists(os.path.join(d, n)):
                return os.path.join(d, n)
        readme = os.path.join(d, "README.md")
        if os.path.isfile(readme) and _readme_says_synthetic(readme):
            return readme
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return None


def is_synthetic(root):
    return synthetic_marker(root) is not None


# ------------------------------------------------------------------------------------------------
# image jobs (run in a process pool)
def _image_job(job):
    from fashioncaffe.imageset import read_image_to_datum

    idx, path, label, bbox, resize, encoding, is_color = job
    try:
        res = read_image_to_datum(path, label, resize, resize, is_color, encoding, bbox=bbox, want_pixels=True)
    except FashionCaffeError as e:
        return idx, None, str(e)
    if res is None:
        return idx, None, f"missing or undecodable image {path}"
    value, info = res
    px = info.pop("pixels")
    info["sum"] = px.astype(np.float64).transpose(2, 0, 1) if resize else None
    return idx, value, info


class Record:
    """One image of a split: where it is, its labels and (optionally) landmarks to transform."""

    __slots__ = ("name", "path", "label", "targets", "bbox", "landmarks", "src", "lineno")

    def __init__(self, name, path, label=0, targets=None, bbox=None, landmarks=None, src="", lineno=0):
        self.name, self.path, self.label = name, path, int(label)
        self.targets = targets or {}
        self.bbox, self.landmarks = bbox, landmarks
        self.src, self.lineno = src, lineno


def transform_landmarks(lm, info):
    """Map a (24,) [vis×8, x0, y0, …, x7, y7] vector from file pixels to stored-image pixels."""
    out = np.array(lm, dtype=np.float32)
    x1, y1, x2, y2 = info["box"]
    c, h, w = info["shape"]
    sx, sy = w / float(x2 - x1), h / float(y2 - y1)
    present = out[:8] != VIS_ABSENT
    xs, ys = out[8::2], out[9::2]
    xs[present] = (xs[present] - x1) * sx
    ys[present] = (ys[present] - y1) * sy
    out[8::2], out[9::2] = xs, ys
    return out


def write_split(out_dir, split, records, companions, meta, args, bad: BadRows, log=None):
    """Write ``images_lmdb`` + one ``<name>_lmdb`` per companion + meta.json (+ mean) for a split.

    ``companions``: {name: dict(K=..., names=[...], encoding=..., ...)}; each record gives
    ``record.targets[name]`` (a length-K vector) or, for "landmarks", ``record.landmarks``.
    """
    from tqdm import tqdm

    from fashioncaffe.formats.blobproto import write_binaryproto
    from fashioncaffe.formats.lmdb_datum import DatumWriter, float_datum, make_key

    log = log or (lambda m: print(m, file=sys.stderr))
    d = os.path.join(out_dir, split)
    os.makedirs(d, exist_ok=True)
    resize = int(args.resize or 0)
    encoding = args.encode_type if args.encoded else ""
    jobs = [(i, r.path, r.label, r.bbox if args.bbox_crop else None, resize, encoding, True) for i, r in enumerate(records)]
    workers = args.workers if args.workers is not None else max(1, min(8, os.cpu_count() or 1))
    pool = None
    if workers > 1 and len(jobs) > 32:
        with opencv_pool_paused():
            pool = mp.get_context("fork").Pool(workers, initializer=one_opencv_thread)
    results = pool.imap(_image_job, jobs, chunksize=8) if pool else map(_image_job, jobs)
    writers = {"images": DatumWriter(os.path.join(d, "images_lmdb"), overwrite=args.overwrite)}
    for name in companions:
        writers[name] = DatumWriter(os.path.join(d, f"{name}_lmdb"), overwrite=args.overwrite)
    mean_acc, n = None, 0
    written = {}
    label_counts: dict[int, int] = {}
    try:
        for idx, value, info in tqdm(results, total=len(jobs), desc=split, unit="img",
                                     disable=not args.progress):
            r = records[idx]
            if value is None:
                bad(r.src or r.path, r.lineno, info, "missing image")
                continue
            key = make_key(n, r.name)
            writers["images"].put(key, value)
            for name, spec in companions.items():
                if name == "landmarks":
                    vec = transform_landmarks(r.landmarks, info)
                else:
                    vec = r.targets[name]
                writers[name].put(key, float_datum(vec))
            if info.get("sum") is not None:
                mean_acc = info["sum"] if mean_acc is None else mean_acc + info["sum"]
            label_counts[r.label] = label_counts.get(r.label, 0) + 1
            written[r.name] = key.decode("utf-8")
            n += 1
    finally:
        if pool:
            pool.terminate()
        for w in writers.values():
            w.close()
    bad.images_written += n
    if n == 0:
        import shutil

        shutil.rmtree(d, ignore_errors=True)
        log(f"split '{split}': no image could be written (all {len(records)} rows were bad); not written.")
        return written
    if mean_acc is not None:
        write_binaryproto(os.path.join(d, "mean.binaryproto"), (mean_acc / n).astype(np.float32)[None],
                          legacy_4d=True)
    m = dict(meta)
    m.update({
        "split": split, "count": n, "rows_in_split": len(records),
        "images": {"lmdb": "images_lmdb", "encoded": bool(args.encoded),
                   "encode_type": encoding or None, "resize": resize or None, "bbox_crop": bool(args.bbox_crop),
                   "channel_order": "BGR", "layout": "CHW", "key_format": "%08d_<image path>"},
        "companions": {name: dict(spec, lmdb=f"{name}_lmdb") for name, spec in companions.items()},
        "label_counts": {str(k): v for k, v in sorted(label_counts.items())},
        "mean_file": "mean.binaryproto" if mean_acc is not None else None,
        "bad_rows": bad.summary(),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    })
    with open(os.path.join(d, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=1, ensure_ascii=False)
    log(f"{split}: wrote {n} images to {d}")
    return written


def read_companion(split_dir, name):
    """(keys, N × K float32 rows) of the companion ``<split_dir>/<name>_lmdb``, in key order."""
    from fashioncaffe.formats.lmdb_datum import DatumReader

    path = os.path.join(split_dir, f"{name}_lmdb")
    if not os.path.isdir(path):
        raise fail(f"{path}: no such companion LMDB (the split has {sorted(_companion_names(split_dir))}).")
    r = DatumReader(path)
    rows = [np.asarray(r.datum(i).float_data, np.float32) for i in range(len(r))]
    return list(r.keys), (np.stack(rows) if rows else np.zeros((0, 0), np.float32))


def _companion_names(split_dir):
    return [d[:-5] for d in os.listdir(split_dir) if d.endswith("_lmdb") and d != "images_lmdb"] \
        if os.path.isdir(split_dir) else []


def write_companion(split_dir, name, keys, rows, spec):
    """Add the companion ``<split_dir>/<name>_lmdb`` (float_data Datums under ``keys``, which must be
    the split's image keys) and record ``spec`` (K, names, encoding, …) in meta.json; replaces an
    older one of that name."""
    from fashioncaffe.formats.lmdb_datum import DatumReader, DatumWriter, float_datum

    image_keys = list(DatumReader(os.path.join(split_dir, "images_lmdb")).keys)
    if list(keys) != image_keys:
        raise fail(f"{split_dir}: the keys given for companion '{name}' are not the split's image keys "
                   f"({len(keys)} keys vs {len(image_keys)} images).")
    rows = np.asarray(rows, np.float32)
    with DatumWriter(os.path.join(split_dir, f"{name}_lmdb"), overwrite=True) as w:
        for k, row in zip(keys, rows):
            w.put(k, float_datum(row))
    meta_path = os.path.join(split_dir, "meta.json")
    meta = json.load(open(meta_path, encoding="utf-8")) if os.path.isfile(meta_path) else {}
    meta.setdefault("companions", {})[name] = dict(spec, K=int(rows.shape[1]), lmdb=f"{name}_lmdb")
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)


def base_parser(prog, description):
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--root", required=True, help="the dataset folder as published (or as the wardrobe writes it)")
    ap.add_argument("--out", required=True, help="output folder: <out>/<split>/images_lmdb, ..., meta.json")
    ap.add_argument("--resize", type=int, default=0, help="resize every image to N×N (default: keep sizes)")
    ap.add_argument("--encoded", action="store_true", help="store JPEG/PNG bytes instead of raw pixels")
    ap.add_argument("--encode-type", default="jpg", help="encoding with --encoded (jpg or png)")
    ap.add_argument("--on-bad-row", default="skip", choices=["skip", "fail"],
                    help="skip (and count) bad rows, or stop at the first one")
    ap.add_argument("--workers", type=int, default=None, help="image decoding processes")
    ap.add_argument("--overwrite", action="store_true", help="replace existing LMDBs")
    ap.add_argument("--synthetic", action="store_true", default=None,
                    help="mark the output as synthetic (default: detected from a SYNTHETIC / WARDROBE.json marker or "
                         "a wardrobe README.md in the root or up to 2 parent folders)")
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    return ap


def run_main(fn, argv, parser):
    args = parser.parse_args(argv)
    if not hasattr(args, "bbox_crop"):
        args.bbox_crop = False
    try:
        fn(args)
    except FashionCaffeError as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


def common_meta(args, dataset):
    marker = synthetic_marker(args.root)
    synth = args.synthetic if args.synthetic is not None else marker is not None
    m = {"dataset": dataset, "source": os.path.abspath(args.root), "synthetic": bool(synth)}
    if synth:
        m["synthetic_marker"] = marker if marker and args.synthetic is None else "--synthetic"
    return m


def resolve_image(root, name, subdirs=("", "Img", "img", "images", "Img/img")):
    for s in subdirs:
        p = os.path.join(root, s, name)
        if os.path.isfile(p):
            return p
    return os.path.join(root, name)


def finish(bad: BadRows, log=None):
    """Summarise the bad rows; a conversion that stored no image at all is an error (exit 2), not a
    success with an empty output."""
    log = log or (lambda m: print(m, file=sys.stderr))
    if bad.count:
        log(f"{bad.count} bad row(s) skipped: " + ", ".join(f"{k}: {v}" for k, v in bad.by_reason.items()))
    if bad.images_written == 0:
        first = f" The first: {bad.examples[0]}." if bad.examples else ""
        raise fail(f"Nothing was converted: no image of any split could be written ({bad.count} bad row(s) "
                   f"skipped).{first} Check --root and the list files; no output was left.")
