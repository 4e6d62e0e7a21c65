"""Turn a Jupyter notebook's code cells into Python 3 statements that run outside Jupyter.

Used to run BVLC Caffe's example notebooks (Python 2, IPython magics, shell escapes) unmodified in
everything but what a plain Python 3 interpreter cannot run:

* Python 2 syntax -> Python 3 with lib2to3's ``print`` and ``dict`` fixers (``print x``,
  ``d.iteritems()``);
* IPython magics: ``%matplotlib ...`` and ``%%time`` are dropped, ``%timeit stmt`` runs ``stmt`` once;
* shell escapes (``!cmd``) are replaced by what the caller maps them to (a stand-in action that
  makes no download), or dropped;
* ``replacements``: exact text substitutions the caller lists (each must match, so a changed
  notebook is noticed), e.g. Python 2's integer ``/`` where Python 3 needs ``//``.

Every change is returned in a list so a report can say what was not run as written.
"""
from __future__ import annotations

import json
import re
import warnings

__all__ = ["notebook_cells", "to_python3"]


def notebook_cells(path) -> list[str]:
    """The source of every code cell, in order."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    return ["".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"]


def _refactor(source: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # lib2to3 is deprecated, still shipped with 3.11
        from lib2to3.refactor import RefactoringTool

        tool = RefactoringTool(["lib2to3.fixes.fix_print", "lib2to3.fixes.fix_dict"])
        return str(tool.refactor_string(source + "\n", "<cell>"))


def to_python3(cell: str, shell=None, replacements=(), changes=None) -> str:
    """One cell as Python 3 source.  ``shell(command) -> str | None`` gives the Python code that
    stands in for ``!command`` (None: drop it); ``changes`` collects what was altered."""
    changes = [] if changes is None else changes
    for old, new in replacements:
        if old in cell:
            cell = cell.replace(old, new)
            changes.append(f"replaced {old!r} with {new!r}")
    lines = []
    for line in cell.splitlines():
        stripped = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if stripped.startswith("%%time") or stripped.startswith("%matplotlib"):
            changes.append(f"dropped magic {stripped!r}")
            continue
        if stripped.startswith("%timeit"):
            lines.append(indent + stripped[len("%timeit"):].strip())
            changes.append(f"ran {stripped!r} once")
            continue
        if stripped.startswith("!"):
            code = shell(stripped[1:].strip()) if shell else None
            changes.append(f"shell {stripped!r} -> {code or 'dropped'}")
            lines.append(indent + (code or "pass"))
            continue
        lines.append(line)
    source = "\n".join(lines)
    converted = _refactor(source)
    if re.sub(r"\s+", "", converted) != re.sub(r"\s+", "", source):
        changes.append("Python 2 -> 3 (print, dict views)")
    return converted
