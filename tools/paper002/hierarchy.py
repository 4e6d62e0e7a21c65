"""Category hierarchies of paper 002: category → parent maps for the 5- and 10-parent groupings.

    from tools.paper002 import hierarchy
    h = hierarchy.for_dataset("runs/wardrobe/tiny/DeepFashion/Category_and_Attribute")
    h.levels                      # (5, 10)
    h.parents(5)                  # ['tops', 'outerwear', ...]
    h.parent_of(5)                # int array: category index (0-based) → parent index (0-based)
    h.parent_labels(labels, 10)   # the 10-parent label of each 0-based category label

Sources, in this order: the dataset's own ``Anno/list_category_hierarchy.txt`` (the synthetic
wardrobe writes one), else our grouping of real DeepFashion's 50 categories shipped in
``tools/paper002/data/list_category_hierarchy.txt`` (see that folder's README: the paper's own
grouping is lost).  Either way the file's category names must equal the dataset's
``list_category_cloth.txt`` names in order -- the labels are positions in that list.
"""
from __future__ import annotations

import os

import numpy as np

from fashioncaffe.errors import fail

OURS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "list_category_hierarchy.txt")
LEVELS = (5, 10)
HEADER = ["category_name", "category_label", "parent5_label", "parent5_name", "parent10_label", "parent10_name"]


class Hierarchy:
    """Categories (in label order) and, per level, the parent names and the category → parent map."""

    def __init__(self, categories, parents, source):
        self.categories = list(categories)
        self._parents = {k: (list(names), np.asarray(idx, dtype=np.int64)) for k, (names, idx) in parents.items()}
        self.source = source

    @property
    def levels(self):
        return tuple(sorted(self._parents))

    def _level(self, level):
        if int(level) not in self._parents:
            raise ValueError(f"{self.source}: no {level}-parent level (levels: {self.levels})")
        return self._parents[int(level)]

    def parents(self, level):
        """Parent class names of a level, in label order."""
        return list(self._level(level)[0])

    def parent_of(self, level):
        """int array (C,): the 0-based parent of each 0-based category."""
        return self._level(level)[1].copy()

    def parent_labels(self, labels, level):
        """Parent labels (0-based) of an array of 0-based category labels."""
        return self._level(level)[1][np.asarray(labels, dtype=np.int64)]

    def members(self, level):
        """{parent name: [category names]}."""
        names, idx = self._level(level)
        return {p: [c for c, j in zip(self.categories, idx) if j == i] for i, p in enumerate(names)}

    def nested(self, fine=10, coarse=5):
        """True if every ``fine`` parent lies inside one ``coarse`` parent."""
        f, c = self.parent_of(fine), self.parent_of(coarse)
        return all(len(set(c[f == k])) == 1 for k in set(f.tolist()))


def read(path):
    """A :class:`Hierarchy` from a ``list_category_hierarchy.txt`` (count line, header, rows)."""
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f.read().splitlines()]
    if len(lines) < 2 or lines[1].split() != HEADER:
        raise fail(f"{path}:2: expected the header '{'  '.join(HEADER)}', got "
                   f"{lines[1] if len(lines) > 1 else 'nothing'!r}.")
    rows = [(i, ln.split()) for i, ln in enumerate(lines[2:], 3) if ln.strip()]
    try:
        declared = int(lines[0])
    except ValueError:
        raise fail(f"{path}:1: the first line must be the number of rows, got {lines[0]!r}.") from None
    if declared != len(rows):
        raise fail(f"{path}:1: the count line says {declared} rows but the file has {len(rows)}.")
    cats, parents = [], {k: ({}, []) for k in LEVELS}
    for lineno, f in rows:
        if len(f) != 6:
            raise fail(f"{path}:{lineno}: expected 6 columns ({' '.join(HEADER)}), got {len(f)}.")
        try:
            label, p5, p10 = int(f[1]), int(f[2]), int(f[4])
        except ValueError:
            raise fail(f"{path}:{lineno}: category_label, parent5_label and parent10_label must be integers.") \
                from None
        if label != len(cats) + 1:
            raise fail(f"{path}:{lineno}: category_label {label}, expected {len(cats) + 1} (rows in label order).")
        cats.append(f[0])
        for level, plabel, pname in ((5, p5, f[3]), (10, p10, f[5])):
            names, idx = parents[level]
            if names.get(plabel, pname) != pname:
                raise fail(f"{path}:{lineno}: parent{level}_label {plabel} is named {pname!r} here but "
                           f"{names[plabel]!r} above.")
            names[plabel] = pname
            idx.append(plabel - 1)
    out = {}
    for level, (names, idx) in parents.items():
        if sorted(names) != list(range(1, len(names) + 1)):
            raise fail(f"{path}: parent{level}_label values must be 1..K without gaps, got {sorted(names)}.")
        if len(names) != level:
            raise fail(f"{path}: the {level}-parent level has {len(names)} parents.")
        out[level] = ([names[k] for k in range(1, len(names) + 1)], idx)
    return Hierarchy(cats, out, path)


def _category_names(root):
    for rel in ("Anno/list_category_cloth.txt", "list_category_cloth.txt"):
        p = os.path.join(root, rel)
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                lines = f.read().splitlines()[2:]
            return [ln.rstrip().rsplit(None, 1)[0].strip() for ln in lines if ln.strip()], p
    return None, None


def find(root):
    """The hierarchy file a dataset root uses: its own, else ours."""
    for rel in ("Anno/list_category_hierarchy.txt", "list_category_hierarchy.txt"):
        p = os.path.join(root, rel)
        if os.path.isfile(p):
            return p
    return OURS


def for_dataset(root=None, categories=None):
    """The hierarchy for a DeepFashion-format root (or for a list of category names, or ours when
    both are None); checks that its category names are the dataset's, in order."""
    path = find(root) if root else OURS
    h = read(path)
    if categories is None and root:
        categories, cat_path = _category_names(root)
    else:
        cat_path = "the given category list"
    if categories is not None and list(categories) != h.categories:
        extra = [c for c in categories if c not in h.categories]
        raise fail(f"{path}: its {len(h.categories)} categories are not the dataset's {len(categories)} "
                   f"({cat_path}) in the same order" + (f"; not in the hierarchy: {', '.join(extra[:8])}" if extra
                                                       else "") + ".")
    return h
