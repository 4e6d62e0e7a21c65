"""The wardrobe's ``contact_sheet.png``: a titled grid of sample shots with their annotations drawn.

Each tile is one shop or consumer shot: the garment's bounding box (the ``list_bbox`` row), its
landmarks (green: visible, orange: occluded; the number is the landmark slot) and, below it, the
item's drawn attributes.  The title says the images are synthetic, and a legend explains the marks.
"""
import os

import cv2
import numpy as np

BOX = (255, 200, 0)        # BGR: the bounding box
VISIBLE = (0, 200, 0)      # a visible landmark
OCCLUDED = (0, 140, 255)   # an occluded one (truncated landmarks are not drawn)


def _text(img, text, x, y, scale=0.33, colour=(0, 0, 0), bold=1):
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, bold, cv2.LINE_AA)


def _header(width, title, shown, total):
    band = np.full((58, width, 3), 255, np.uint8)
    _text(band, f"SYNTHETIC wardrobe ({title}): drawn garments, not photographs -- {shown} of {total} shots",
          8, 20, 0.55, (0, 0, 160), 1)
    x = 8
    cv2.rectangle(band, (x, 32), (x + 16, 46), BOX, 2)
    _text(band, "bounding box", x + 22, 44, 0.42)
    x += 140
    cv2.circle(band, (x + 6, 39), 5, VISIBLE, -1)
    _text(band, "visible landmark (n = slot)", x + 16, 44, 0.42)
    x += 230
    cv2.circle(band, (x + 6, 39), 5, OCCLUDED, -1)
    _text(band, "occluded landmark", x + 16, 44, 0.42)
    x += 170
    _text(band, "below each image: category (shot kind); colour pattern fabric; sleeve length, collar/neckline",
          x, 44, 0.42)
    return band


def contact_sheet(out, items, shots, results, paths, S, n=24, cols=6, title="wardrobe"):
    """Write ``out/contact_sheet.png`` (``n`` shots, ``cols`` per row, images of ``S`` px); returns its path."""
    pick = [s for s in shots if s["kind"] in ("shop", "consumer")]
    step = max(1, len(pick) // n)
    pick = pick[::step][:n]
    tile = 192
    tiles = []
    for s in pick:
        img = cv2.imread(os.path.join(out, paths[s["index"]][0]))
        img = cv2.resize(img, (tile, tile))
        f = tile / S
        lms, bb = results[s["index"]]
        cv2.rectangle(img, (int(bb[0] * f), int(bb[1] * f)), (int(bb[2] * f), int(bb[3] * f)), BOX, 1)
        for j, (v, x, y) in enumerate(lms):
            if v < 2:
                cv2.circle(img, (int(x * f), int(y * f)), 3, VISIBLE if v == 0 else OCCLUDED, -1)
                _text(img, str(j + 1), int(x * f) + 3, int(y * f) - 2, 0.3)
        it = items[s["item"]]["attrs"]
        txt = [f"{it['category']} ({s['kind']})", f"{it['color']} {it['pattern']} {it['fabric']}",
               f"sleeve:{it['sleeve_len']} collar:{it['collar']}/{it['neckline']}"]
        band = np.full((40, tile, 3), 255, np.uint8)
        for j, t in enumerate(txt):
            _text(band, t[:34], 2, 11 + 13 * j)
        tiles.append(np.vstack([img, band]))
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)]
    grid = np.vstack(rows)
    sheet = np.vstack([_header(grid.shape[1], title, len(pick), len(shots)), grid])
    p = os.path.join(out, "contact_sheet.png")
    cv2.imwrite(p, sheet)
    return p
