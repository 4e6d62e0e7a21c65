"""Paper 004's part extraction (tools/paper004/parts.py): boxes against the wardrobe's true part boxes on
rendered products, the "Extract Parts?" cases and gates, the companion row layout, the mask of a pale
garment, IoU by hand."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from data_prep.wardrobe.render import render_shot  # noqa: E402
from data_prep.wardrobe.shopping import make_products, product_shot  # noqa: E402
from tools.paper004 import parts  # noqa: E402


@pytest.fixture(scope="module")
def rendered():
    prods, _ = make_products(7, 120)
    out = []
    for j, p in enumerate(prods):
        if p["attrs"]["type"] == 2:
            continue
        img, _, _, truth = render_shot(product_shot(p, j, 128), parts=True)
        out.append((p, img, truth))
    return out[:60]


def test_extracted_boxes_overlap_the_true_parts(rendered):
    ious = {p: [] for p in parts.PARTS}
    right = 0
    for prod, img, truth in rendered:
        ex = parts.extract_parts(img)
        right += ex.sleeves == ("left_sleeve" in truth)
        for p in parts.PARTS:
            if p in truth and p in ex.boxes:
                ious[p].append(parts.iou(truth[p], ex.boxes[p]))
        for b in ex.boxes.values():
            assert -1 <= b[0] <= b[2] <= 128 and -1 <= b[1] <= b[3] <= 128
    assert right / len(rendered) > 0.9
    # measured on the tiny wardrobe (1633 images): torso 0.68, sleeves 0.74, collar 0.55, fastening 0.67,
    # chest 0.73; these bounds leave room for a 60-image sample
    for p, lo in (("torso", 0.5), ("left_sleeve", 0.55), ("right_sleeve", 0.55), ("collar", 0.35),
                  ("fastening", 0.45), ("chest", 0.55)):
        assert len(ious[p]) > 10 and np.mean(ious[p]) > lo, (p, np.mean(ious[p]))


def test_cases_gates_and_the_companion_row():
    assert parts.gates(parts.CASE_OFF).tolist() == [0] * 6
    assert parts.gates(parts.CASE_SLEEVES).tolist() == [1] * 6
    assert parts.gates(parts.CASE_SLEEVELESS).tolist() == [1, 0, 0, 1, 1, 1]
    ex = parts.Extraction(True, {"torso": (10, 20, 60, 90), "left_sleeve": (0, 20, 10, 50)}, None)
    assert parts.case_of(ex, lower_body=True) == parts.CASE_OFF
    assert parts.case_of(ex, lower_body=False) == parts.CASE_SLEEVES
    assert parts.case_of(parts.Extraction(False, {}, None), False) == parts.CASE_SLEEVELESS
    row = parts.part_vector(parts.CASE_SLEEVELESS, ex.boxes, w=101, h=101)
    assert row.shape == (parts.ROW_SIZE,) == (31,)
    case, g, boxes = parts.split_vector(row)
    assert case == 2 and g.tolist() == [1, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(boxes[0], [0.1, 0.2, 0.6, 0.9])
    np.testing.assert_array_equal(boxes[1], parts.WHOLE)          # gated off: the whole image
    np.testing.assert_array_equal(boxes[3], parts.WHOLE)          # not extracted: the whole image
    off = parts.split_vector(parts.part_vector(parts.CASE_OFF, ex.boxes, 101, 101))
    assert off[0] == 0 and not off[1].any() and (off[2] == np.array(parts.WHOLE)).all()


def test_a_pale_garment_outline_is_filled_and_specks_dropped():
    img = np.full((64, 64, 3), 245, np.uint8)
    import cv2

    cv2.rectangle(img, (16, 10), (48, 54), (120, 120, 120), 1)      # a white garment: its outline only
    img[2, 60] = 0                                                 # a speck
    m = parts.foreground_mask(img)
    assert m[30, 30] == 255 and m[2, 60] == 0 and m[5, 5] == 0
    assert abs(int((m > 0).sum()) - 33 * 45) < 120


def test_iou_by_hand():
    assert parts.iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert parts.iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)
    assert parts.iou((0, 0, 1, 1), (5, 5, 6, 6)) == 0.0
