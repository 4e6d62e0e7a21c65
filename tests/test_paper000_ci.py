"""Paper 000 at scale ``ci`` (the shared run of tests/test_papers.py): Table II cells recomputed from the
saved predictions without the paper's code; the output representation's ranking checked against the
saved scores it was made from."""
import re

import numpy as np

from tools.repro.layout import Experiment
from tools.repro.results import load_predictions


def _cell(text, section, group, column):
    """The cell of a Table II row in the section of a representation ("fc7" / "output")."""
    part = text.split(f"Representation searched: **{section}**", 1)[1].split("### ", 1)[0]
    lines = [ln for ln in part.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0] == group:
            return cells[head.index(column)].strip("*")
    raise AssertionError(f"no row {group!r}")


def _ap(relevant):
    """Eq. 10: mean over the relevant retrieved items of the precision at their rank; 0 without any."""
    hits, total = 0, 0.0
    for rank, rel in enumerate(relevant, 1):
        if rel:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def test_map_cells_recomputed_from_predictions(paper_ci):
    folder = paper_ci("000")
    exp = Experiment("000", "ci")
    p = load_predictions(str(folder / exp.run_dir("all_multiweight", 1) / "predictions.npz"))
    text = (folder / exp.out_dir / "table2.md").read_text()
    a = p["attributes"]
    names, sizes = list(a["group_names"]), [int(m) for m in a["group_sizes"]]
    gi = names.index("Color")
    lo = sum(sizes[:gi])
    y = a["labels"][:, lo:lo + sizes[gi]]

    # fc7: the saved ranked lists, relevance and AP recomputed here
    t = p["map_fc7_color"]
    aps = [_ap([bool(((t["labels"][q] > 0) & (t["gallery_labels"][c] > 0)).any()) for c in t["ranked"][q]])
           for q in range(len(t["ids"]))]
    assert _cell(text, "fc7", "Color", "Multi-weight@i45 ours") == f"{100 * np.mean(aps):.2f}"

    # output: the saved ranking checked against the saved sigmoid scores (squared Euclidean distance,
    # the query excluded, R = 50 nearest: nondecreasing, and nothing left out nearer than the last one;
    # float64 here, so equal-up-to-rounding distances may come in either order), then AP recomputed
    t = p["map_output_color"]
    keep = np.flatnonzero((y >= 0).all(1))
    assert list(t["ids"]) == list(a["ids"][keep])
    f = a["scores"][keep, lo:lo + sizes[gi]].astype(np.float64)
    pos = y[keep] > 0
    aps = []
    for q, ranked in enumerate(t["ranked"]):
        d = ((f - f[q]) ** 2).sum(1)
        assert q not in ranked and len(set(ranked)) == len(ranked) == min(50, len(keep) - 1)
        assert np.all(np.diff(d[ranked]) >= -1e-6)
        rest = np.setdiff1d(np.arange(len(keep)), np.append(ranked, q))
        assert rest.size == 0 or d[rest].min() >= d[ranked[-1]] - 1e-6
        aps.append(_ap([bool((pos[q] & pos[c]).any()) for c in ranked]))
    assert _cell(text, "output", "Color", "Multi-weight@i45 ours") == f"{100 * np.mean(aps):.2f}"
    assert re.search(r"\| Color \| 1\.0000 \| [01]\.\d{4} \| \d+ \| 35\.24 \|", text)  # the paper's column
