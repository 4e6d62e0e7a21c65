"""tools/paper002/hierarchy.py: our grouping of real DeepFashion's 50 categories, the reader's
checks, and agreement with the synthetic wardrobe's parents."""
import os

import numpy as np
import pytest

from data_prep.wardrobe.catalog import CATEGORIES, PARENTS5, PARENTS10
from fashioncaffe.errors import FashionCaffeError
from tools.paper002 import hierarchy

# DeepFashion's list_category_cloth.txt, in order (labels 1..50)
DEEPFASHION_50 = (
    "Anorak Blazer Blouse Bomber Button-Down Cardigan Flannel Halter Henley Hoodie Jacket Jersey Parka Peacoat "
    "Poncho Sweater Tank Tee Top Turtleneck Capris Chinos Culottes Cutoffs Gauchos Jeans Jeggings Jodhpurs Joggers "
    "Leggings Sarong Shorts Skirt Sweatpants Sweatshorts Trunks Caftan Cape Coat Coverup Dress Jumpsuit Kaftan "
    "Kimono Nightdress Onesie Robe Romper Shirtdress Sundress").split()


def test_our_grouping_covers_deepfashions_50_categories_nested():
    h = hierarchy.for_dataset(categories=DEEPFASHION_50)
    assert h.source == hierarchy.OURS and h.levels == (5, 10)
    assert h.parents(5) == PARENTS5 and h.parents(10) == PARENTS10
    assert h.nested(10, 5)
    assert sorted(np.bincount(h.parent_of(5)).tolist()) == [6, 6, 11, 11, 16]
    assert min(np.bincount(h.parent_of(10), minlength=10)) >= 2
    assert h.members(10)["skirts"] == ["Sarong", "Skirt"]
    labels = np.array([0, 32, 40])  # Anorak, Skirt, Dress
    assert [h.parents(5)[p] for p in h.parent_labels(labels, 5)] == ["outerwear", "bottoms", "dresses"]
    assert [h.parents(10)[p] for p in h.parent_labels(labels, 10)] == ["jackets", "skirts", "dresses"]


def test_our_grouping_agrees_with_the_wardrobe_on_shared_names():
    h = hierarchy.for_dataset()
    p5, p10 = dict(zip(h.categories, h.parent_of(5))), dict(zip(h.categories, h.parent_of(10)))
    shared = [c for c in CATEGORIES if c[0] in p5]
    assert len(shared) == 41
    for name, _, _, parent5, parent10 in shared:
        assert h.parents(5)[p5[name]] == parent5 and h.parents(10)[p10[name]] == parent10, name


def _write(path, rows, count=None):
    with open(path, "w") as f:
        f.write(f"{len(rows) if count is None else count}\n{'  '.join(hierarchy.HEADER)}\n")
        f.writelines(r + "\n" for r in rows)
    return str(path)


def test_dataset_file_wins_and_must_match_its_category_list(tmp_path):
    anno = tmp_path / "Anno"
    anno.mkdir()
    rows = [f"C{i} {i} {1 + (i - 1) % 5} p5_{(i - 1) % 5} {i} p10_{i - 1}" for i in range(1, 11)]
    _write(anno / "list_category_hierarchy.txt", rows)
    with open(anno / "list_category_cloth.txt", "w") as f:
        f.write("10\ncategory_name  category_type\n" + "".join(f"C{i}  1\n" for i in range(1, 11)))
    h = hierarchy.for_dataset(str(tmp_path))
    assert h.source.endswith("Anno/list_category_hierarchy.txt") and h.categories[0] == "C1"
    assert list(h.parent_of(5)) == [0, 1, 2, 3, 4] * 2
    with open(anno / "list_category_cloth.txt", "w") as f:
        f.write("2\ncategory_name  category_type\nC1  1\nX  1\n")
    with pytest.raises(FashionCaffeError, match="not in the hierarchy: X"):
        hierarchy.for_dataset(str(tmp_path))


@pytest.mark.parametrize("rows,count,message", [
    (["A 1 1 a 1 x", "B 3 1 a 1 x"], None, "category_label 3, expected 2"),
    (["A 1 1 a 1 x", "B 2 1 b 1 x"], None, "named 'b' here but 'a' above"),
    (["A 1 1 a 1 x"], 2, "count line says 2"),
    (["A 1 1 a"], None, "expected 6 columns"),
])
def test_reader_names_the_bad_line(tmp_path, rows, count, message):
    with pytest.raises(FashionCaffeError, match=message):
        hierarchy.read(_write(tmp_path / "h.txt", rows, count))
