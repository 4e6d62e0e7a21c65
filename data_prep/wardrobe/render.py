"""OpenCV drawing of one photograph: figure canvas (body + garments, textures, details) warped into
a shop / consumer / shopping scene, with occluders, zoom-in truncation and camera effects.

``render_shot(spec)`` -> (BGR uint8 image, [(vis, x, y)] landmarks of the main garment, bbox);
``render_shot(spec, parts=True)`` adds the main garment's true part boxes in image pixels
(``templates.part_regions`` through the camera transform; paper 004's part-extraction ground truth).
Visibility: 0 visible, 1 occluded (by an occluder object or a garment layered on top),
2 truncated (outside the frame; written as 0 0).  Everything random comes from ``spec`` seeds.
"""
import cv2
import numpy as np

from .catalog import COLORS
from .templates import garment_geometry, part_regions

SKIN = [(150, 180, 225), (120, 160, 210), (90, 120, 170), (60, 90, 140)]


def _shade(c, f):
    return tuple(min(255, max(0, int(v * f))) for v in c)


def _mix(c, d, a):
    return tuple(int(v * (1 - a) + w * a) for v, w in zip(c, d))


# ----------------------------------------------------------------------------------- textures
_TEX_CACHE = {}


def texture_for(it, R, seed):
    """``make_texture`` memoised per (item seed, canvas size): items are shot several times."""
    key = (seed, R, it["category"], it["color"])
    if key not in _TEX_CACHE:
        if len(_TEX_CACHE) > 16:
            _TEX_CACHE.pop(next(iter(_TEX_CACHE)))
        _TEX_CACHE[key] = make_texture(it, R, np.random.default_rng(seed))
    return _TEX_CACHE[key]


def make_texture(it, R, rng):
    """Full-canvas texture for a garment (pattern + fabric), in figure-canvas pixels."""
    base = COLORS[it["color"]]
    c2 = COLORS[it["color2"]]
    tex = np.empty((R, R, 3), np.uint8)
    tex[:] = base
    u = R / 256.0
    pat = it["pattern"]
    if pat == "stripe":
        step = int(rng.integers(8, 14) * u)
        w = max(1, int(step * rng.uniform(0.3, 0.5)))
        for y in range(0, R, step):
            cv2.rectangle(tex, (0, y), (R, y + w), c2, -1)
    elif pat == "dot":
        step = int(rng.integers(9, 14) * u)
        r = max(1, int(step * 0.22))
        for j, y in enumerate(range(0, R, step)):
            for x in range((j % 2) * step // 2, R, step):
                cv2.circle(tex, (x, y), r, c2, -1)
    elif pat == "plaid":
        step = int(rng.integers(12, 20) * u)
        ov = tex.copy()
        for y in range(0, R, step):
            cv2.rectangle(ov, (0, y), (R, y + step // 3), c2, -1)
        for x in range(0, R, step):
            cv2.rectangle(ov, (x, 0), (x + step // 3, R), c2, -1)
        tex = cv2.addWeighted(tex, 0.45, ov, 0.55, 0)
        for y in range(step // 2, R, step):
            cv2.line(tex, (0, y), (R, y), _shade(base, 0.5), max(1, int(u)))
    elif pat == "floral":
        for _ in range(int(60 * u * u)):
            x, y = rng.integers(0, R, 2)
            r = int(rng.integers(2, 4) * u) + 1
            col = c2 if rng.random() < 0.7 else COLORS["green"]
            for k in range(5):
                a = 2 * np.pi * k / 5
                cv2.circle(tex, (int(x + 1.3 * r * np.cos(a)), int(y + 1.3 * r * np.sin(a))), r,
                           col, -1)
            cv2.circle(tex, (int(x), int(y)), max(1, r // 2), COLORS["yellow"], -1)
    elif pat == "graphic":  # a print on the chest (upper / full) or the thigh (lower)
        cy = 0.3 if it["type"] != 2 else 0.6
        c = (int(0.5 * R), int(cy * R))
        shape = int(rng.integers(3))
        r = int(0.05 * R)
        if shape == 0:
            cv2.circle(tex, c, r, c2, -1)
            cv2.circle(tex, c, r // 2, base, -1)
        elif shape == 1:
            pts = [(c[0] + int(r * np.cos(a) * (1 if k % 2 == 0 else 0.45)),
                    c[1] + int(r * np.sin(a) * (1 if k % 2 == 0 else 0.45)))
                   for k, a in enumerate(np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1])]
            cv2.fillPoly(tex, [np.array(pts, np.int32)], c2)
        else:
            for k in range(3):
                cv2.rectangle(tex, (c[0] - r, c[1] - r + k * r * 2 // 3),
                              (c[0] + r - k * r // 3, c[1] - r + k * r * 2 // 3 + r // 3), c2, -1)
    elif pat == "animal":
        dk6 = _shade(base, 0.6)
        for _ in range(int(90 * u * u)):
            x, y = rng.integers(0, R, 2)
            a, b = int(rng.integers(2, 5) * u) + 1, int(rng.integers(2, 4) * u) + 1
            cv2.ellipse(tex, (int(x), int(y)), (a, b), float(rng.uniform(0, 180)), 0, 360,
                        (20, 20, 20), max(1, int(u)))
            cv2.ellipse(tex, (int(x), int(y)), (max(1, a // 2), max(1, b // 2)), 0, 0, 360,
                        dk6, -1)
    fab = it["fabric"]
    if fab == "denim":
        dk = _shade(base, 0.82)
        for k in range(-R, R, max(2, int(3 * u))):
            cv2.line(tex, (k, 0), (k + R, R), dk, 1)
    elif fab == "knit" or it["wool"] != "none":
        dk = _shade(base, 0.65)
        if it["wool"] == "chunky":
            step = int(10 * u)
            for x in range(0, R, step):
                for y in range(0, R, step):
                    cv2.line(tex, (x, y), (x + step // 2, y + step // 2), dk, max(1, int(2 * u)))
                    cv2.line(tex, (x + step, y), (x + step // 2, y + step // 2), dk,
                             max(1, int(2 * u)))
        else:
            for x in range(0, R, max(2, int(4 * u))):
                cv2.line(tex, (x, 0), (x, R), dk, 1)
    elif fab == "lace":
        step = max(3, int(6 * u))
        lc = _mix(base, (255, 255, 255), 0.5)
        for y in range(0, R, step):
            for x in range(0, R, step):
                cv2.circle(tex, (x, y), max(1, step // 3), lc, 1)
    elif fab == "sequin":
        pts = rng.integers(0, R, (int(500 * u * u), 2))
        for x, y in pts:
            cv2.circle(tex, (int(x), int(y)), max(1, int(u)), (245, 245, 255), -1)
    elif fab == "chiffon":
        tex = cv2.addWeighted(tex, 0.7, np.full_like(tex, 255), 0.3, 0)
        for y in range(0, R, max(3, int(7 * u))):
            cv2.line(tex, (0, y), (R, y + int(4 * u)), _mix(base, (255, 255, 255), 0.5), 1)
    if it["leather_kind"] == "suede":
        noise = rng.integers(-18, 18, (R, R, 1))
        tex = np.clip(tex.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return tex


def _sheen(canvas, mask, strength, R, rng):
    """Diagonal specular bands (leather / satin), computed inside the mask's bounding box."""
    x, y, w, h = cv2.boundingRect(mask)
    ph = rng.uniform(0, 2 * np.pi)
    if w == 0:
        return
    diag = (np.arange(y, y + h, dtype=np.float32)[:, None]
            + np.arange(x, x + w, dtype=np.float32)[None, :]) * np.float32(9.0 / R)
    a = (np.sin(diag + ph) ** 8) * np.float32(strength) * (mask[y:y + h, x:x + w] > 0)
    roi = canvas[y:y + h, x:x + w]
    roi[:] = (roi + (255 - roi.astype(np.float32)) * a[..., None]).astype(np.uint8)


# --------------------------------------------------------------------------------- painting
def _P(pts, R):
    return np.floor(np.asarray(pts, np.float64) * R + 0.5).astype(np.int32)


def _fill(img, mask, shape, R, color=None):
    if isinstance(shape, tuple):
        _, c, ax = shape
        args = (tuple(int(v) for v in np.round(np.asarray(c) * R)),
                (int(ax[0] * R), int(ax[1] * R)), 0, 0, 360)
        if color is not None:
            cv2.ellipse(img, *args, color, -1, cv2.LINE_AA)
        cv2.ellipse(mask, *args, 255, -1)
    else:
        if color is not None:
            cv2.fillPoly(img, [_P(shape, R)], color, cv2.LINE_AA)
        cv2.fillPoly(mask, [_P(shape, R)], 255)


def _outline(img, shape, R, color, th):
    if isinstance(shape, tuple):
        _, c, ax = shape
        cv2.ellipse(img, tuple(int(v) for v in np.round(np.asarray(c) * R)),
                    (int(ax[0] * R), int(ax[1] * R)), 0, 0, 360, color, th, cv2.LINE_AA)
    else:
        cv2.polylines(img, [_P(shape, R)], True, color, th, cv2.LINE_AA)


def paint_garment(canvas, it, geo, R, seed, rng, view):
    """Draw one garment onto ``canvas`` (in place); returns its uint8 mask."""
    u = R / 256.0
    mask = np.zeros((R, R), np.uint8)
    order = sorted(geo["parts"], key=lambda p: {"hood": 0, "sleeve": 1, "puff": 2}.get(p[0], 3))
    for _, shp in order:
        _fill(canvas, mask, shp, R, None)
    tex = texture_for(it, R, seed)
    if it["craft"] == "washed":
        # the faded patches follow this shot's legs: draw them on a copy, never on the memoised
        # texture (another shot of the item -- in this worker or not -- must not see them)
        tex = tex.copy()
        lv = geo["levels"]
        for x in lv.get("leg_x", (0.45, 0.55)):
            cv2.ellipse(tex, (int(x * R), int(0.62 * R)), (int(0.03 * R), int(0.07 * R)), 0, 0,
                        360, _mix(COLORS[it["color"]], (255, 255, 255), 0.35), -1)
        tex = cv2.GaussianBlur(tex.copy(), (0, 0), 2 * u)
    cv2.copyTo(tex, mask, canvas)
    if it["fabric"] in ("leather", "satin"):
        k = {"patent": 0.65, "genuine": 0.35, "pu": 0.45, "suede": 0.0}.get(it["leather_kind"], 0.3)
        if k:
            _sheen(canvas, mask, k, R, np.random.default_rng(seed + 1))
    th = {"thin": 1, "medium": 2, "thick": 4}[it["thickness"]]
    th = max(1, int(round(th * u)))
    dark = _shade(COLORS[it["color"]], 0.45) if it["color"] != "black" else (90, 90, 90)
    for _, shp in order:
        _outline(canvas, shp, R, dark, th)
    lv = geo["levels"]
    base = COLORS[it["color"]]
    cat = it["category"]
    front = view != "back"
    # quilting for thick outerwear
    if it["thickness"] == "thick" and it["type"] != 2:
        ov = canvas.copy()
        for y in np.arange(0.22, lv.get("bottom", 0.6), 0.045):
            cv2.line(ov, (0, int(y * R)), (R, int(y * R)), dark, max(1, int(u)))
        cv2.copyTo(ov, mask, canvas)
    # skirt pleats
    if it["skirt_shape"] == "pleated":
        hh, hy = lv["skirt_half"], lv["lower_hem_y"]
        wy = lv["lower_waist_y"]
        for f in np.linspace(-0.8, 0.8, 7):
            cv2.line(canvas, _P((0.5 + f * lv["waist_w"], wy), R).tolist(),
                     _P((0.5 + f * hh, hy), R).tolist(), dark, max(1, int(u)))
    if it["skirt_shape"] == "wrap":
        wy = lv["lower_waist_y"]
        cv2.line(canvas, _P((0.5 + lv["waist_w"] * 0.8, wy), R).tolist(),
                 _P((0.5 - lv["skirt_half"] * 0.3, lv["lower_hem_y"] + 0.02), R).tolist(), dark,
                 th)
    # neckline / collar
    if it["type"] != 2 and geo["neck"] is not None:
        inner = (245, 245, 245) if it["collar"] == "lapel" else _shade(base, 0.55)
        neck = geo["neck"] if front else geo["neck"] * [1, 1] + [0, 0]
        if not front:  # back view: a shallow neckline only
            neck = neck.copy()
            neck[:, 1] = np.minimum(neck[:, 1], 0.16)
        cv2.fillPoly(canvas, [_P(neck, R)], inner, cv2.LINE_AA)
        cv2.polylines(canvas, [_P(neck, R)], True, dark, max(1, int(u)), cv2.LINE_AA)
        nw = lv["neck_w"]
        col = it["collar"]
        if col == "pointed":
            for s in (-1, 1):
                tri = [(0.5 + s * nw, 0.14), (0.5 + s * 0.004, 0.185), (0.5 + s * (nw + 0.02), 0.19)]
                cv2.fillPoly(canvas, [_P(tri, R)], _mix(base, (255, 255, 255), 0.25), cv2.LINE_AA)
                cv2.polylines(canvas, [_P(tri, R)], True, dark, max(1, int(u)), cv2.LINE_AA)
        elif col == "mandarin":
            band = [(0.5 - nw, 0.125), (0.5 + nw, 0.125), (0.5 + nw, NECK), (0.5 - nw, NECK)]
            cv2.fillPoly(canvas, [_P(band, R)], _shade(base, 0.8), cv2.LINE_AA)
            cv2.polylines(canvas, [_P(band, R)], True, dark, max(1, int(u)), cv2.LINE_AA)
            cv2.fillPoly(mask, [_P(band, R)], 255)
        elif col == "turtle":
            band = [(0.5 - nw, 0.105), (0.5 + nw, 0.105), (0.5 + nw, 0.15), (0.5 - nw, 0.15)]
            cv2.fillPoly(canvas, [_P(band, R)], base, cv2.LINE_AA)
            for y in np.arange(0.11, 0.15, 0.008):
                cv2.line(canvas, _P((0.5 - nw, y), R).tolist(), _P((0.5 + nw, y), R).tolist(),
                         dark, 1)
            cv2.fillPoly(mask, [_P(band, R)], 255)
        elif col == "lapel" and front:
            for s in (-1, 1):
                tri = [(0.5 + s * nw, NECK), (0.5 + s * (nw + 0.035), 0.2), (0.5 + s * 0.012, 0.29)]
                cv2.polylines(canvas, [_P(tri, R)], True, dark, max(1, int(1.5 * u)),
                              cv2.LINE_AA)
        elif col == "hood":
            cv2.ellipse(canvas, tuple(_P((0.5, 0.1), R).tolist()), (int(0.048 * R),
                        int(0.055 * R)), 0, 0, 360, _shade(base, 0.5), -1, cv2.LINE_AA)
    # fastening
    top = lv.get("neck_bottom", lv.get("lower_waist_y", 0.45))
    bottom = lv.get("hem_y", 0.5) if it["type"] != 2 else lv.get("lower_waist_y", 0.45) + 0.05
    if it["type"] == 3 and cat not in ("Coat", "Kimono", "Robe", "Kaftan"):
        bottom = 0.43
    if front and it["fastening"] == "buttons":
        ys = np.arange(top + 0.015, bottom - 0.01, 0.045)
        if cat == "Henley":
            ys = ys[:3]
        xs = (0.47, 0.53) if cat == "Peacoat" else (0.5,)
        for y in ys:
            for x in xs:
                cv2.circle(canvas, tuple(_P((x, y), R).tolist()), max(1, int(0.008 * R)),
                           _shade(base, 0.35) if it["color"] not in ("black", "navy")
                           else (200, 200, 200), -1, cv2.LINE_AA)
    elif front and it["fastening"] == "zip":
        cv2.line(canvas, _P((0.5, top), R).tolist(), _P((0.5, bottom), R).tolist(),
                 (170, 170, 175), max(1, int(2 * u)))
        for y in np.arange(top, bottom, 0.012):
            cv2.line(canvas, _P((0.493, y), R).tolist(), _P((0.507, y), R).tolist(),
                     (120, 120, 125), 1)
    if cat in ("Cardigan", "Kimono", "Robe") and front:
        cv2.line(canvas, _P((0.5, top), R).tolist(), _P((0.5, lv.get("hem_y", 0.6)), R).tolist(),
                 dark, max(1, int(1.5 * u)))
    # pockets
    pk = it["pocket"]
    if front and pk != "none":
        if it["type"] == 2 or cat in ("Jumpsuit", "Romper", "Onesie"):
            py = lv.get("lower_waist_y", 0.45) + 0.03
        else:
            py = min(0.42, lv.get("hem_y", 0.5) - 0.1) if pk in ("kangaroo", "flap") else 0.215
        for s in (-1, 1):
            if pk == "patch":
                if it["type"] != 2 and s == 1 and py < 0.3:
                    continue
                r = [(0.5 + s * 0.06 - 0.022, py), (0.5 + s * 0.06 + 0.022, py + 0.045)]
                cv2.rectangle(canvas, *[tuple(_P(p, R).tolist()) for p in r], dark,
                              max(1, int(u)))
            elif pk == "flap":
                r = [(0.5 + s * 0.06 - 0.025, py), (0.5 + s * 0.06 + 0.025, py + 0.018)]
                cv2.rectangle(canvas, *[tuple(_P(p, R).tolist()) for p in r], _shade(base, 0.7),
                              -1)
                cv2.rectangle(canvas, *[tuple(_P(p, R).tolist()) for p in r], dark, 1)
            elif pk == "side":
                cv2.ellipse(canvas, tuple(_P((0.5 + s * 0.1, py - 0.01), R).tolist()),
                            (int(0.04 * R), int(0.05 * R)), 0, 0 if s < 0 else 90,
                            90 if s < 0 else 180, dark, max(1, int(u)))
        if pk == "kangaroo":
            tr = [(0.44, py), (0.56, py), (0.58, py + 0.07), (0.42, py + 0.07)]
            cv2.polylines(canvas, [_P(tr, R)], True, dark, max(1, int(1.5 * u)), cv2.LINE_AA)
    # waist details
    wy = lv.get("lower_waist_y", 0.43) if it["type"] != 1 else 0.43
    wwid = lv.get("waist_w", 0.1) + 0.004
    if it["waist"] == "belt":
        cv2.rectangle(canvas, tuple(_P((0.5 - wwid, wy), R).tolist()),
                      tuple(_P((0.5 + wwid, wy + 0.022), R).tolist()), (25, 40, 60), -1)
        cv2.rectangle(canvas, tuple(_P((0.485, wy - 0.004), R).tolist()),
                      tuple(_P((0.515, wy + 0.026), R).tolist()), (60, 190, 215), max(1, int(u)))
    elif it["waist"] in ("elastic", "drawstring", "high"):
        h = 0.035 if it["waist"] == "high" else 0.022
        cv2.rectangle(canvas, tuple(_P((0.5 - wwid, wy), R).tolist()),
                      tuple(_P((0.5 + wwid, wy + h), R).tolist()), _shade(base, 0.8), -1)
        if it["waist"] == "elastic":
            for x in np.arange(0.5 - wwid, 0.5 + wwid, 0.008):
                cv2.line(canvas, _P((x, wy), R).tolist(), _P((x, wy + h), R).tolist(), dark, 1)
        if it["waist"] == "drawstring":
            for s in (-1, 1):
                cv2.line(canvas, _P((0.5 + s * 0.01, wy + 0.01), R).tolist(),
                         _P((0.5 + s * 0.02, wy + 0.08), R).tolist(), (235, 235, 235),
                         max(1, int(1.5 * u)))
        if it["waist"] == "high":
            for s in (-1, 1):
                cv2.circle(canvas, tuple(_P((0.5 + s * 0.015, wy + 0.017), R).tolist()),
                           max(1, int(0.006 * R)), dark, -1)
    # sport side stripes
    if it["sport"] != "none":
        for _, shp in geo["parts"]:
            if isinstance(shp, tuple):
                continue
            pts = shp
            i = int(np.argmin(pts[:, 0]))
            j = int(np.argmax(pts[:, 0]))
            for k, s in ((i, 1), (j, -1)):
                y0 = pts[:, 1].min()
                cv2.line(canvas, _P((pts[k, 0] + s * 0.012, y0 + 0.02), R).tolist(),
                         _P((pts[k, 0] + s * 0.012, pts[k, 1]), R).tolist(), (250, 250, 250),
                         max(1, int(2.5 * u)))
    # ripped knees
    if it["craft"] == "ripped":
        for x in lv.get("leg_x", (0.46, 0.54)):
            for dy in (0.0, 0.015, 0.03):
                y = 0.7 + dy
                if y < lv.get("bottom", 0.9) - 0.01:
                    cv2.line(canvas, _P((x - 0.018, y), R).tolist(), _P((x + 0.018, y), R).tolist(),
                             (235, 235, 240), max(1, int(1.5 * u)))
    # embroidery near the neckline / hem
    if it["craft"] == "embroidery":
        y0 = lv.get("neck_bottom", 0.5) + 0.02 if it["type"] != 2 else lv.get("bottom", 0.7) - 0.03
        for k in range(6):
            x = 0.5 + (k - 2.5) * 0.02
            cv2.circle(canvas, tuple(_P((x, y0), R).tolist()), max(1, int(0.007 * R)),
                       [(40, 40, 220), (40, 200, 240), (200, 90, 40)][k % 3], -1)
    # fleece trim (dense)
    if it["dense"]:
        cream = (215, 235, 245)
        if it["type"] != 2 and geo["neck"] is not None:
            cv2.polylines(canvas, [_P(geo["neck"], R)], False, cream, max(2, int(4 * u)))
        for c in lv.get("sleeve_ends", []):
            cv2.circle(canvas, tuple(_P(c, R).tolist()), max(2, int(0.02 * R)), cream, -1)
        if it["type"] == 2 and "leg_x" in lv:
            for x in lv["leg_x"]:
                cv2.line(canvas, _P((x - lv["leg_hw"], lv["lower_hem_y"]), R).tolist(),
                         _P((x + lv["leg_hw"], lv["lower_hem_y"]), R).tolist(), cream,
                         max(2, int(4 * u)))
    # fringe
    if it["fringe"]:
        col = _shade(base, 0.7)
        bottom_parts = [p for n, p in geo["parts"] if n in ("torso", "skirt", "legs")]
        pts = max(bottom_parts, key=lambda p: p[:, 1].max()) if bottom_parts else None
        if pts is not None:
            yb = pts[:, 1].max()
            low = pts[pts[:, 1] > yb - 0.03]
            x0, x1 = low[:, 0].min(), low[:, 0].max()
            for x in np.arange(x0, x1, 0.008):
                cv2.line(canvas, _P((x, yb - 0.005), R).tolist(), _P((x, yb + 0.045), R).tolist(),
                         col, max(1, int(u)))
                cv2.line(mask, _P((x, yb - 0.005), R).tolist(), _P((x, yb + 0.045), R).tolist(),
                         255, max(1, int(u)))
    return mask


NECK = 0.145


def paint_body(canvas, mask, gender, skin, pose, R, legs=True):
    sw = 0.135 if gender == "men" else 0.118
    t = np.deg2rad(pose["arm"])
    th = max(2, int(0.05 * R))
    for s in (-1, 1):
        a = (0.5 + s * (sw - 0.02), 0.2)
        b = (a[0] + s * np.sin(t) * 0.36, a[1] + np.cos(t) * 0.36)
        cv2.line(canvas, _P(a, R).tolist(), _P(b, R).tolist(), skin, th, cv2.LINE_AA)
        cv2.line(mask, _P(a, R).tolist(), _P(b, R).tolist(), 255, th)
        if legs:
            sp = np.tan(np.deg2rad(pose["leg"]))
            a = (0.5 + s * 0.055, 0.5)
            b = (0.5 + s * (0.058 + sp * 0.38), 0.96)
            cv2.line(canvas, _P(a, R).tolist(), _P(b, R).tolist(), skin, int(th * 1.2),
                     cv2.LINE_AA)
            cv2.line(mask, _P(a, R).tolist(), _P(b, R).tolist(), 255, int(th * 1.2))
            cv2.ellipse(canvas, tuple(_P((b[0] + s * 0.01, 0.965), R).tolist()),
                        (int(0.03 * R), int(0.015 * R)), 0, 0, 360, (30, 30, 40), -1)
            cv2.ellipse(mask, tuple(_P((b[0] + s * 0.01, 0.965), R).tolist()),
                        (int(0.03 * R), int(0.015 * R)), 0, 0, 360, 255, -1)
    cv2.rectangle(canvas, tuple(_P((0.48, 0.1), R).tolist()), tuple(_P((0.52, 0.16), R).tolist()),
                  skin, -1)
    cv2.rectangle(mask, tuple(_P((0.48, 0.1), R).tolist()), tuple(_P((0.52, 0.16), R).tolist()),
                  255, -1)
    # torso skin (visible under sleeveless / cropped garments)
    torso = [(0.5 - sw, 0.17), (0.5 + sw, 0.17), (0.5 + 0.1, 0.5), (0.5 - 0.1, 0.5)]
    cv2.fillPoly(canvas, [_P(torso, R)], skin)
    cv2.fillPoly(mask, [_P(torso, R)], 255)


def paint_head(canvas, mask, skin, R, rng):
    c = tuple(_P((0.5, 0.075), R).tolist())
    cv2.ellipse(canvas, c, (int(0.042 * R), int(0.052 * R)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    hair = [(20, 20, 25), (30, 50, 90), (60, 90, 140)][int(rng.integers(3))]
    cv2.ellipse(canvas, (c[0], c[1] - int(0.015 * R)), (int(0.045 * R), int(0.042 * R)), 0, 180,
                360, hair, -1, cv2.LINE_AA)
    cv2.ellipse(mask, c, (int(0.045 * R), int(0.055 * R)), 0, 0, 360, 255, -1)


# ------------------------------------------------------------------------------------ scene
def _background(S, kind, rng):
    img = np.empty((S, S, 3), np.uint8)
    if kind in ("shop", "shopping"):
        v = rng.integers(225, 250) if kind == "shop" else 245
        tint = rng.integers(-6, 6, 3) if kind == "shop" else np.zeros(3, int)
        img[:] = np.clip(v + tint, 0, 255)
        if kind == "shop":
            g = np.linspace(0, rng.integers(0, 20), S)[:, None, None]
            img = np.clip(img.astype(np.float32) - g, 0, 255).astype(np.uint8)
        return img
    img[:] = rng.integers(40, 220, 3)
    horizon = int(S * rng.uniform(0.55, 0.85))
    img[horizon:] = rng.integers(30, 200, 3)
    for _ in range(int(rng.integers(6, 14))):
        col = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = rng.integers(0, S, 2)
        w, h = rng.integers(S // 12, S // 3, 2)
        if rng.random() < 0.6:
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), col, -1)
        else:
            cv2.circle(img, (int(x), int(y)), int(w // 2), col, -1)
    for _ in range(int(rng.integers(3, 8))):
        p = rng.integers(0, S, 4)
        cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])),
                 tuple(int(v) for v in rng.integers(0, 255, 3)), int(rng.integers(1, 4)))
    return img


def _boxes_through(M, R, regions):
    """Figure-unit boxes -> image-pixel boxes (the bbox of the four transformed corners)."""
    out = {}
    for name, (x1, y1, x2, y2) in regions.items():
        # elementwise, not a matrix product: no BLAS call (its thread pool and forked render
        # workers do not mix)
        xs = np.array([x1, x2, x1, x2], np.float64) * R
        ys = np.array([y1, y1, y2, y2], np.float64) * R
        px = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
        py = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
        out[name] = [round(float(px.min()), 2), round(float(py.min()), 2),
                     round(float(px.max()), 2), round(float(py.max()), 2)]
    return out


def render_shot(spec, parts=False):
    """Render one photograph from a shot ``spec`` (see ``plan.make_shots``); with ``parts`` also the
    main garment's true part boxes (the drawing is the same either way)."""
    S = spec["size"]
    R = 2 * S
    rng = np.random.default_rng(spec["seed"])
    kind, pose_type = spec["kind"], spec["pose_type"]
    it, comp = spec["item"], spec.get("companion")
    figure = kind != "shopping" and pose_type != 6
    view = {2: "side", 3: "back"}.get(pose_type, "front")
    amt = spec["pose_amt"]
    pose = dict(arm=float(rng.uniform(6, 14) + 12 * amt + (0 if figure else 10)),
                leg=float(rng.uniform(1, 4) + 3 * amt),
                sx=0.72 if view == "side" else 1.0)
    canvas = np.zeros((R, R, 3), np.uint8)
    fig_mask = np.zeros((R, R), np.uint8)
    skin = SKIN[int(rng.integers(len(SKIN)))]
    if figure:
        paint_body(canvas, fig_mask, it["gender"], skin, pose, R)
    layers = []
    geo_main = garment_geometry(it, pose)
    entries = [("main", it, geo_main, spec["item_seed"])]
    if comp is not None and figure:
        entries.append(("comp", comp, garment_geometry(comp, pose), spec["comp_seed"]))
        # lower garments first; a tucked upper goes under the lower
        low_first = sorted(entries, key=lambda e: e[1]["type"] != 2)
        entries = low_first[::-1] if spec.get("tucked") else low_first
    for name, g, geo, tseed in entries:
        m = paint_garment(canvas, g, geo, R, tseed, rng, view)
        layers.append((name, m))
        fig_mask |= m
    if figure:
        paint_head(canvas, fig_mask, skin, R, rng)
    names = [n for n, _ in layers]
    mi = names.index("main")
    main_mask = layers[mi][1]
    over = np.zeros_like(main_mask)
    for n, m in layers[mi + 1:]:
        over |= m
    # ---- camera: fit the main garment's bbox into the frame -------------------------------
    bx, by, bw_, bh_ = cv2.boundingRect(main_mask)
    x0, x1, y0, y1 = bx, bx + bw_ - 1, by, by + bh_ - 1
    ext = max(x1 - x0, y1 - y0) + 1
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float64)
    zoom, rot = spec["zoom"], spec["rot"]
    scale = zoom * S / ext
    if zoom > 1.05:  # zoom-in: look at a random part of the garment
        c += (rng.uniform(-0.3, 0.3, 2) * [x1 - x0, y1 - y0])
    M = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), rot, scale)
    M[:, 2] += np.array([S / 2, S / 2]) - c + rng.normal(0, spec["jitter"] * S, 2)
    bg = _background(S, kind, rng)
    warped = cv2.warpAffine(canvas, M, (S, S), flags=cv2.INTER_LINEAR)
    fm = cv2.warpAffine(fig_mask, M, (S, S), flags=cv2.INTER_LINEAR).astype(np.float32) \
        * np.float32(1 / 255.0)
    img = cv2.blendLinear(warped, bg, fm, 1 - fm)
    mm = cv2.warpAffine(main_mask, M, (S, S), flags=cv2.INTER_NEAREST)
    om = cv2.warpAffine(over, M, (S, S), flags=cv2.INTER_NEAREST)
    # ---- occluder object (bag / hand / sign) over one landmark ----------------------------
    lms = [(M @ np.array([x * R, y * R, 1.0])) for x, y in geo_main["landmarks"]]
    if spec["occlude"]:
        inside = [p for p in lms if 0 <= p[0] < S and 0 <= p[1] < S]
        if inside:
            p = inside[int(rng.integers(len(inside)))]
            col = tuple(int(v) for v in rng.integers(0, 255, 3))
            w, h = (rng.uniform(0.1, 0.2, 2) * S).astype(int)
            occ = np.zeros((S, S), np.uint8)
            if rng.random() < 0.5:
                pts = (int(p[0] - w / 2), int(p[1] - h / 2)), (int(p[0] + w / 2), int(p[1] + h / 2))
                cv2.rectangle(img, *pts, col, -1)
                cv2.rectangle(occ, *pts, 255, -1)
                cv2.line(img, (pts[0][0] + w // 4, pts[0][1]), (pts[0][0] + w // 2, pts[0][1] - h
                         // 3), _shade(col, 0.5), 2)
            else:
                cv2.ellipse(img, (int(p[0]), int(p[1])), (int(w // 2), int(h // 2)),
                            float(rng.uniform(0, 180)), 0, 360, skin, -1)
                cv2.ellipse(occ, (int(p[0]), int(p[1])), (int(w // 2), int(h // 2)),
                            float(rng.uniform(0, 180)), 0, 360, 255, -1)
            om |= occ
    out = []
    for p in lms:
        x, y = int(round(p[0])), int(round(p[1]))
        if not (0 <= x < S and 0 <= y < S):
            out.append((2, 0, 0))
        elif om[y, x] > 0:
            out.append((1, x, y))
        else:
            out.append((0, x, y))
    bx, by, bw_, bh_ = cv2.boundingRect(mm)
    bbox = (bx, by, bx + bw_ - 1, by + bh_ - 1) if bw_ > 0 else (0, 0, S - 1, S - 1)
    # ---- camera effects --------------------------------------------------------------------
    if kind == "consumer":
        f = img.astype(np.float32)
        f = f * rng.uniform(0.6, 1.25) + rng.uniform(-25, 25) + rng.uniform(-15, 15, 3)
        f += rng.normal(0, 5, f.shape)
        img = np.clip(f, 0, 255).astype(np.uint8)
        k = int(rng.choice([0, 3, 5]))
        if k:
            img = cv2.GaussianBlur(img, (k, k), 0)
    if parts:
        return img, out, bbox, _boxes_through(M, R, part_regions(it, geo_main))
    return img, out, bbox
