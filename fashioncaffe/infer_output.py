"""What ``fashioncaffe infer`` shows: compact lines for people, CSV / JSON for machines, drawn images.

    from fashioncaffe.infer_output import (load_truth, group_members, headline, compact_lines, summary_lines,
                                           write_csv, draw)

A result is one image's dict from :meth:`fashioncaffe.infer.Predictor.predict`.  Its *headline* is the
few predictions a person looks at first: a category output's top labels, and for attribute outputs
the best label of each group, the groups ranked by that label's score (ungrouped attributes: their top
labels).  Ground truth, when a labels file names the image (``--truth``), is shown beside them and
each headline label is marked ✓ when the image carries it; the summary then counts, over the groups an
image is annotated in, how often the group's top-1 label is one of the image's labels.
"""
from __future__ import annotations

import csv
import os

import numpy as np

from .errors import fail


# ------------------------------------------------------------------------------------------------
# ground truth
# ------------------------------------------------------------------------------------------------
def load_truth(path):
    """``{key: [label, ...]}`` from a labels file of ``image<TAB>label;label;...[<TAB>split]`` lines (the
    e-Clothing list format); a line ``image<TAB>label`` (one label) works for category data.  Keys are
    the image's path as written and its file name, so images are found wherever they were copied."""
    truth = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise fail(f"--truth {path}: file does not exist (expected lines 'image<TAB>label;label;...').") from None
    except (OSError, UnicodeDecodeError) as e:
        raise fail(f"--truth {path}: cannot be read ({e}).") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise fail(f"--truth {path}, line {n}: expected 'image<TAB>label;label;...', got {line[:80]!r}.")
        labels = [s.strip() for s in parts[1].split(";") if s.strip()]
        image = parts[0].strip()
        truth[os.path.normpath(image)] = labels
        truth.setdefault(os.path.basename(image), labels)
    return truth


def truth_for(image, truth):
    """The labels of ``image`` in ``truth`` (matched by path, then by file name), or None."""
    if not truth:
        return None
    return truth.get(os.path.normpath(image)) or truth.get(os.path.basename(image))


# ------------------------------------------------------------------------------------------------
# what a person looks at first
# ------------------------------------------------------------------------------------------------
def headline(res, top_k=5):
    """``[(group or None, label, score, output name)]``: the top predictions of one image, best first:
    up to ``top_k`` of each category output (a hierarchy's levels each), then the most confident
    attribute groups."""
    items = []
    for name, o in (res.get("outputs") or {}).items():
        if o["kind"] == "category":
            items += [(None, t["label"], t["score"], name) for t in o["top"][:top_k]]
        elif o["kind"] == "attributes":
            if "groups" in o:
                items += [(g["group"], g["top"][0]["label"], g["top"][0]["score"], name) for g in o["groups"]]
            else:
                items += [(None, t["label"], t["score"], name) for t in o["top"][:top_k]]
    cats = [i for i in items if i[0] is None and _kind(res, i[3]) == "category"]
    rest = sorted((i for i in items if i not in cats), key=lambda i: -i[2])
    return cats + rest[:top_k]


def _kind(res, output):
    return res["outputs"][output]["kind"]


def group_members(outputs_meta):
    """``{(output name, group name or None): set of labels}`` from a model's output metadata."""
    members = {}
    for o in outputs_meta:
        labels = o.get("labels") or []
        if o.get("kind") == "category":
            members[(o["name"], None)] = set(labels)
        for g in o.get("groups") or []:
            members[(o["name"], g["name"])] = {labels[i] for i in g["indices"] if i < len(labels)}
    return members


def group_hits(res, labels, members):
    """``(right, annotated)``: over the category outputs and the attribute groups in which the image
    has a label, how many have their top-1 label among the image's labels."""
    if not labels or not res.get("ok"):
        return 0, 0
    have = set(labels)
    right = annotated = 0
    for name, o in res["outputs"].items():
        if o["kind"] == "category" and o.get("top"):
            if members.get((name, None), set()) & have:
                annotated += 1
                right += o["top"][0]["label"] in have
        elif o["kind"] == "attributes" and "groups" in o:
            for g in o["groups"]:
                if members.get((name, g["group"]), set()) & have:
                    annotated += 1
                    right += g["top"][0]["label"] in have
    return right, annotated


def _landmark_note(res):
    notes = []
    for name, o in (res.get("outputs") or {}).items():
        if o["kind"] == "landmarks":
            pts = o["points"]
            vis = [p for p in pts if p.get("visibility", 1.0) >= 0.5]
            notes.append(f"{name}: {len(pts)} landmarks" + (f", {len(vis)} visible" if len(vis) != len(pts) else ""))
    return notes


def compact_lines(res, members, top_k=5, labels=None):
    """A few lines for one image.  Without ground truth: the headline (category, then the most
    confident attribute groups) and the landmarks.  With it: one row per category output and attribute
    group the image is labelled in, the top-1 prediction marked ✓ or shown beside the true label."""
    if not res.get("ok"):
        return [f"{res['image']}: ERROR {_error_text(res)}"]
    if labels is not None:
        return _lines_with_truth(res, members, labels)
    cats, attrs = {}, []
    for group, label, score, name in headline(res, top_k):
        text = f"{group + ': ' if group else ''}{label} {score:.2f}"
        if group is None and _kind(res, name) == "category":
            cats.setdefault(name, []).append(text)
        else:
            attrs.append(text)
    lines = [res["image"]]
    for name, texts in cats.items():
        # an exported output's title names its level (e.g. "parent (5 classes)" beside "category")
        title = res["outputs"][name].get("title", "category")
        lines.append(f"  {title + ':':<12}" + ", ".join(texts))
    if attrs:
        lines.append("  attributes: " + ", ".join(attrs))
    if not cats and not attrs and not _landmark_note(res):
        lines.append("  (no labelled outputs; --verbose lists the raw ones)")
    lines += [f"  {n}" for n in _landmark_note(res)]
    return lines


def truth_rows(res, members, labels):
    """Per category output and attribute group the image is labelled in: (group, top-1 label, its
    score, the true labels of the group, whether the top-1 is one of them); and the labels no output
    predicts."""
    have = set(labels)
    rows, covered = [], set()
    for name, o in res["outputs"].items():
        if o["kind"] == "category" and o.get("top"):
            parts = [(None, o["top"][0], members.get((name, None), set()))]
        elif o["kind"] == "attributes" and "groups" in o:
            parts = [(g["group"], g["top"][0], members.get((name, g["group"]), set())) for g in o["groups"]]
        else:
            continue
        for group, top, member in parts:
            true = [lab for lab in labels if lab in member]
            if not true:
                continue
            covered.update(true)
            rows.append((group or "category", top["label"], top["score"], true, top["label"] in have))
    return rows, [lab for lab in labels if lab not in covered]


def _lines_with_truth(res, members, labels):
    found, other = truth_rows(res, members, labels)
    rows = [(g, f"{label} {score:.2f}", "✓" if ok else "✗ truth: " + ", ".join(true))
            for g, label, score, true, ok in found]
    right, annotated = group_hits(res, labels, members)
    head = res["image"] + (f"   top-1 right in {right} of {annotated} labelled group(s)" if annotated else
                           "   (none of its labels is one the model predicts)")
    width = max([len(g) for g, _, _ in rows] + [8])
    pred_w = max([len(p) for _, p, _ in rows] + [8])
    lines = [head] + [f"  {g:<{width}}  {p:<{pred_w}}  {v}" for g, p, v in rows]
    if other:
        lines.append(f"  {'':<{width}}  (labels no output predicts: {', '.join(other)})")
    lines += [f"  {n}" for n in _landmark_note(res)]
    return lines


def _error_text(res):
    """The error without the image path its message may already start with."""
    err = str(res.get("error") or "")
    for prefix in (f"{res['image']}: ", f"{res['image']} "):
        if err.startswith(prefix):
            return err[len(prefix):]
    return err


def summary_lines(results, truths, members, seconds=None, provider=None):
    ok = [r for r in results if r.get("ok")]
    bad = [r for r in results if not r.get("ok")]
    head = f"{len(ok)} image(s) predicted, {len(bad)} failed"
    if seconds is not None:
        head += f" in {seconds:.2f} s"
    if provider:
        head += f" ({provider})"
    lines = [head]
    right = annotated = known = 0
    for r, labels in zip(results, truths):
        if r.get("ok") and labels is not None:
            known += 1
            a, b = group_hits(r, labels, members)
            right, annotated = right + a, annotated + b
    if known:
        lines.append(f"ground truth known for {known} image(s): the top-1 label is right in {right} of {annotated} "
                     f"annotated groups" + (f" ({100.0 * right / annotated:.0f}%)" if annotated else ""))
    for r in bad:
        lines.append(f"  failed: {r['image']}: {_error_text(r)}")
    return lines


# ------------------------------------------------------------------------------------------------
# machines
# ------------------------------------------------------------------------------------------------
CSV_COLUMNS = ["image", "ok", "output", "kind", "group", "rank", "label", "score", "in_truth", "x", "y",
               "visibility", "error"]


def csv_rows(res, labels=None):
    """Rows (dicts of :data:`CSV_COLUMNS`) for one image: every listed prediction and landmark."""
    base = {"image": res["image"], "ok": int(bool(res.get("ok")))}
    if not res.get("ok"):
        return [dict(base, error=_error_text(res))]
    have = None if labels is None else set(labels)
    rows = []

    def pred(name, kind, group, tops):
        for rank, t in enumerate(tops, 1):
            rows.append(dict(base, output=name, kind=kind, group=group or "", rank=rank, label=t["label"],
                             score=f"{t['score']:.6g}", in_truth="" if have is None else int(t["label"] in have)))

    for name, o in res["outputs"].items():
        if o["kind"] == "category":
            pred(name, "category", None, o["top"])
        elif o["kind"] == "attributes":
            if "groups" in o:
                for g in o["groups"]:
                    pred(name, "attributes", g["group"], g["top"])
            else:
                pred(name, "attributes", None, o["top"])
        elif o["kind"] == "landmarks":
            for p in o["points"]:
                rows.append(dict(base, output=name, kind="landmarks", label=p["slot"],
                                 x=f"{p.get('x_image', p.get('x', float('nan'))):.6g}" if "x" in p else "",
                                 y=f"{p.get('y_image', p.get('y', float('nan'))):.6g}" if "y" in p else "",
                                 visibility=f"{p['visibility']:.6g}" if "visibility" in p else ""))
        else:
            tops = o.get("top") or [{"label": str(i), "score": v} for i, v in enumerate(o.get("values", []))]
            pred(name, "raw", None, tops)
    return rows


def write_csv(results, truths, stream):
    w = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r, labels in zip(results, truths):
        for row in csv_rows(r, labels):
            w.writerow(row)


# ------------------------------------------------------------------------------------------------
# pictures
# ------------------------------------------------------------------------------------------------
def draw(res, image, out_path, top_k=5, labels=None, members=None):
    """Write ``image`` (HWC uint8 BGR/gray as decoded) with the predictions beside it and the landmarks
    on it to ``out_path`` (PNG).  With ground truth (``labels``, and ``members`` as for
    :func:`compact_lines`) the predictions are those the text shows: the top-1 of each group the image
    is labelled in, beside the true label."""
    import cv2

    img = image
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img.reshape(img.shape[0], img.shape[1]), cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    h, w = img.shape[:2]
    zoom = max(1.0, 320.0 / max(1, h))  # small images are enlarged so the text beside them fits
    img = cv2.resize(img, (int(round(w * zoom)), int(round(h * zoom))), interpolation=cv2.INTER_NEAREST) \
        if zoom > 1.0 else img.copy()
    for o in (res.get("outputs") or {}).values():
        if o["kind"] != "landmarks":
            continue
        for i, p in enumerate(o["points"]):
            if "x" not in p:
                continue
            x, y = p.get("x_image", p["x"]) * zoom, p.get("y_image", p["y"]) * zoom
            visible = p.get("visibility", 1.0) >= 0.5
            colour = (0, 200, 0) if visible else (0, 0, 255)
            cv2.circle(img, (int(round(x)), int(round(y))), 4, colour, -1 if visible else 1, cv2.LINE_AA)
            cv2.putText(img, str(i + 1), (int(round(x)) + 5, int(round(y)) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        colour, 1, cv2.LINE_AA)
    found = truth_rows(res, members, labels)[0] if labels is not None and members is not None else None
    if found:
        text = ["predicted (top-1 of each labelled group):"]
        text += [f" {g}: {label} {score:.2f}  " + ("right" if ok else "(truth: " + ", ".join(true) + ")")
                 for g, label, score, true, ok in found]
    else:
        text = ["predicted:"]
        have = set(labels or [])
        for group, label, score, _ in headline(res, top_k):
            mark = ("  (true)" if label in have else "") if labels is not None else ""
            text.append(f" {group + ': ' if group else ''}{label} {score:.2f}{mark}")
    for o in (res.get("outputs") or {}).values():
        if o["kind"] == "landmarks":
            text.append(f"landmarks: {len(o['points'])} (green visible, red not)")
            text += [f" {i + 1} {p['slot']}" for i, p in enumerate(o["points"])]
    if labels is not None:
        text.append("truth:")
        text += [f" {s}" for s in labels] or [" (no labels)"]
    line_h = 18
    panel_w = 12 + 8 * max(len(t) for t in text)
    H = max(img.shape[0], line_h * (len(text) + 1))
    canvas = np.full((H, img.shape[1] + panel_w, 3), 255, np.uint8)
    canvas[:img.shape[0], :img.shape[1]] = img
    for i, t in enumerate(text):
        cv2.putText(canvas, t, (img.shape[1] + 8, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0) if not t.startswith(" ") else (60, 60, 60), 1, cv2.LINE_AA)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    if not cv2.imwrite(out_path, canvas):
        raise fail(f"--draw: cannot write {out_path}.")
    return out_path


def drawn_name(image, taken):
    """``<file name>.png`` under the --draw folder, numbered when two images share a name."""
    stem = os.path.splitext(os.path.basename(image))[0]
    name, n = f"{stem}.png", 2
    while name in taken:
        name, n = f"{stem}_{n}.png", n + 1
    taken.add(name)
    return name
