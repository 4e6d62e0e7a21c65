"""Parametric garment templates: polygons, detail anchors and the 8 DeepFashion landmarks of one
garment in *figure units* (a standing figure of height 1, centre line x = 0.5, head at the top).

``garment_geometry(item, pose)`` returns a dict with
  parts     list of (name, Nx2 float array) filled polygons (torso, sleeves, legs, skirt, hood ...)
  neck      Nx2 polygon of the neckline opening (drawn in a darker interior colour) or None
  landmarks list of (x, y) in DeepFashion order (upper 6, lower 4, full 8)
  levels    named y levels / x half widths used by the detail painter (waist, hem, ...)
All y grow downwards.  ``pose`` = dict(arm=deg, leg=deg, sx=horizontal squeeze for side views).
"""
import numpy as np

from .catalog import SKIRT_CATS, TROUSER_CATS

NECK_Y, SHOULDER_Y, ARMPIT_Y, WAIST_Y, HIP_Y, CROTCH_Y = 0.145, 0.17, 0.26, 0.43, 0.52, 0.575
UPPER_HEM = {"cropped": 0.40, "regular": 0.535, "long": 0.66, "none": 0.535}
TROUSER_HEM = {"short": 0.64, "knee": 0.74, "cropped": 0.84, "full": 0.95}
SKIRT_HEM = {"mini": 0.62, "knee": 0.74, "midi": 0.84, "maxi": 0.95}
SLEEVE_LEN = {"short": 0.09, "elbow": 0.19, "long": 0.33}
EASE = {"slim": 0.006, "regular": 0.022, "loose": 0.045}


def body_widths(gender):
    if gender == "men":
        return dict(shoulder=0.135, waist=0.105, hip=0.11)
    return dict(shoulder=0.118, waist=0.084, hip=0.12)


def _sleeve(S, A, theta, length, r1, side, shape):
    """Sleeve quad from shoulder point S and armpit A along an arm at angle theta (deg)."""
    t = np.deg2rad(theta)
    d = np.array([side * np.sin(t), np.cos(t)])
    p_out = np.array([side * np.cos(t), -np.sin(t)])  # outer/upper side of the arm
    C0 = (S + A) / 2
    C1 = C0 + d * length
    poly = np.array([S, C1 + p_out * r1, C1 - p_out * r1, A])
    return poly, C1, C0, d


def garment_geometry(it, pose):
    cat, t = it["category"], it["type"]
    bw = body_widths(it["gender"])
    ease = EASE[it["fit"]]
    parts, lm = [], []
    lv = {}
    neck = None
    has_upper = t in (1, 3)
    arm = pose["arm"]
    # ---- upper part / bodice --------------------------------------------------------------
    if has_upper:
        sw = bw["shoulder"] + ease * 0.3
        nw = 0.075 if it["neckline"] == "boat" else 0.045
        if cat in ("Kimono", "Robe", "Coat", "Kaftan"):
            hem_y = {"Coat": 0.80, "Kimono": 0.78, "Robe": 0.80, "Kaftan": 0.95}[cat]
            if cat == "Coat" and it.get("upper_len") == "long":
                hem_y = 0.88
        elif t == 1:
            hem_y = UPPER_HEM[it["upper_len"]]
            if cat == "Cardigan" and it["upper_len"] == "long":
                hem_y = 0.72
            if cat in ("Parka", "Peacoat") and it["upper_len"] == "long":
                hem_y = 0.70
        else:
            hem_y = WAIST_Y  # bodice of a dress / jumpsuit ends at the waist
        ww = bw["waist"] + ease + (0.02 if it["gender"] == "men" else 0)
        hip_w = bw["hip"] + ease + 0.01
        lv.update(hem_y=hem_y, neck_w=nw, shoulder_w=sw, waist_w=ww)
        # torso outline
        L = [(0.5 - nw, NECK_Y), (0.5 - sw, SHOULDER_Y), (0.5 - sw + 0.012, ARMPIT_Y)]
        if hem_y > WAIST_Y + 0.01:
            L.append((0.5 - ww, WAIST_Y))
            hw = hip_w + max(0.0, hem_y - HIP_Y) * (0.25 if cat in ("Coat", "Robe", "Kaftan")
                                                     else 0.12)
            if cat == "Kaftan":
                hw += 0.06
            L.append((0.5 - hw, hem_y))
        else:
            frac = (hem_y - ARMPIT_Y) / (WAIST_Y - ARMPIT_Y)
            L.append((0.5 - ((1 - frac) * (sw - 0.012) + frac * ww), hem_y))
        if cat == "Poncho":
            L = [(0.5 - nw, NECK_Y), (0.5 - 0.27, 0.50), (0.5 - 0.22, 0.56)]
            lv["hem_y"] = hem_y = 0.56
        torso = np.array(L + [(1 - x, y) for x, y in reversed(L)])
        lv["hem_half"] = 0.5 - L[-1][0]
        # sleeves
        S_l = np.array([0.5 - sw, SHOULDER_Y])
        A_l = np.array([0.5 - sw + 0.012, ARMPIT_Y])
        sleeve_lm = []
        if it["sleeve_len"] != "sleeveless" and cat != "Poncho":
            length = SLEEVE_LEN[it["sleeve_len"]]
            r1 = (0.042 if it["sleeve_len"] == "short" else 0.032) + ease * 0.4
            shp = it["sleeve_shape"]
            if shp == "bell":
                r1 *= 2.0
                length += 0.02
            if shp == "bat" or cat in ("Kimono",):
                r1 = 0.07 if cat == "Kimono" else r1 * 1.4
            for side, S, A in ((-1, S_l, A_l), (1, S_l * [-1, 1] + [1, 0], A_l * [-1, 1] + [1, 0])):
                if shp == "bat":
                    A = np.array([0.5 + side * (ww + 0.005), WAIST_Y - 0.03])
                poly, C1, C0, d = _sleeve(S, A, arm, length, r1, side, shp)
                parts.append(("sleeve", poly))
                if shp == "puff":
                    parts.append(("puff", ("ellipse", C0 + d * 0.025, (0.06, 0.05))))
                sleeve_lm.append(tuple(C1))
            lv["sleeve_ends"] = sleeve_lm
        else:
            sleeve_lm = [tuple((S_l + A_l) / 2 + [0.012, 0]),
                         tuple((S_l + A_l) / 2 * [-1, 1] + [1, 0] - [0.012, 0])]
            lv["sleeve_ends"] = []
        parts.insert(0, ("torso", torso))
        # neckline opening
        nl = it["neckline"]
        if it["collar"] == "lapel":
            neck = np.array([(0.5 - nw, NECK_Y), (0.5 + nw, NECK_Y), (0.5, 0.30)])
        elif nl == "v":
            neck = np.array([(0.5 - nw, NECK_Y), (0.5 + nw, NECK_Y), (0.5, 0.235)])
        elif nl == "square":
            neck = np.array([(0.5 - nw, NECK_Y), (0.5 + nw, NECK_Y), (0.5 + nw, 0.205),
                             (0.5 - nw, 0.205)])
        else:
            depth = {"crew": 0.028, "scoop": 0.065, "boat": 0.02}.get(nl, 0.028)
            ang = np.linspace(0, np.pi, 12)
            neck = np.stack([0.5 - nw * np.cos(ang), NECK_Y + depth * np.sin(ang)], 1)
        if it["collar"] == "hood":
            parts.append(("hood", ("ellipse", np.array([0.5, 0.095]), (0.075, 0.08))))
        lm += [(0.5 - nw, NECK_Y + 0.004), (0.5 + nw, NECK_Y + 0.004)]
        lm += sleeve_lm
        lv["neck_bottom"] = float(neck[:, 1].max())
    # ---- lower part -----------------------------------------------------------------------
    lower_hem = None
    if t == 2 or (t == 3 and cat not in ("Coat", "Kimono", "Robe", "Kaftan")):
        wy = 0.41 if it["waist"] == "high" else (0.45 if t == 2 else WAIST_Y)
        ww = bw["waist"] + ease + (0.01 if t == 2 else 0) + (0.02 if it["gender"] == "men" else 0)
        hp = bw["hip"] + ease + 0.005
        lv.setdefault("waist_w", ww)
        lv["lower_waist_y"] = wy
        if cat in TROUSER_CATS:
            hy = TROUSER_HEM[it["trouser_len"]]
            spread = np.tan(np.deg2rad(pose["leg"]))
            hwh = {"slim": 0.03, "regular": 0.042, "loose": 0.062}[it["fit"]]
            if cat in ("Culottes",):
                hwh = 0.085
            if cat in ("Leggings",):
                hwh = 0.026
            if hy <= 0.66:
                hwh += 0.015
            xl = 0.5 - 0.058 - spread * (hy - CROTCH_Y)
            xr = 1 - xl
            poly = np.array([(0.5 - ww, wy), (0.5 - hp, HIP_Y), (xl - hwh, hy), (xl + hwh, hy),
                             (0.5, CROTCH_Y), (xr - hwh, hy), (xr + hwh, hy), (0.5 + hp, HIP_Y),
                             (0.5 + ww, wy)])
            parts.append(("legs", poly))
            hem_pts = [(xl, hy), (xr, hy)]
            lv.update(leg_x=(xl, xr), leg_hw=hwh)
        else:
            hy = SKIRT_HEM[it["skirt_len"]]
            shp = it["skirt_shape"]
            flare = {"a-line": 0.3, "pencil": -0.02, "flared": 0.6, "pleated": 0.35,
                     "wrap": 0.25}.get(shp, 0.3)
            if cat == "Kaftan":
                flare = 0.3
            hh = hp + max(0.0, hy - HIP_Y) * flare
            n = 14
            xs = np.linspace(0.5 - hh, 0.5 + hh, n)
            ys = np.full(n, hy)
            if shp == "flared":
                ys += 0.012 * np.sin(np.linspace(0, 6 * np.pi, n))
            if shp == "pleated":
                ys += 0.008 * (np.arange(n) % 2)
            if shp == "wrap":
                ys += np.linspace(0.04, -0.02, n)
            poly = np.concatenate([[(0.5 - ww, wy), (0.5 - hp, HIP_Y)],
                                   np.stack([xs, ys], 1),
                                   [(0.5 + hp, HIP_Y), (0.5 + ww, wy)]])
            parts.append(("skirt", poly))
            hem_pts = [(xs[0], ys[0]), (xs[-1], ys[-1])]
            lv["skirt_half"] = hh
        lower_hem = hy
        lv["lower_hem_y"] = hy
        waist_pts = [(0.5 - ww, wy), (0.5 + ww, wy)]
        if t == 2:
            lm = waist_pts + hem_pts
        else:
            lm += waist_pts + hem_pts
    elif t == 3:  # long coat-like full-body garments
        hy = lv["hem_y"]
        ww = lv["waist_w"]
        lm += [(0.5 - ww, WAIST_Y), (0.5 + ww, WAIST_Y),
               (0.5 - lv["hem_half"], hy), (0.5 + lv["hem_half"], hy)]
        lower_hem = hy
    if t == 1:
        lm += [(0.5 - lv["hem_half"], lv["hem_y"]), (0.5 + lv["hem_half"], lv["hem_y"])]
    lv["bottom"] = lower_hem if lower_hem is not None else lv["hem_y"]
    # side views squeeze x around the centre line
    sx = pose.get("sx", 1.0)
    if sx != 1.0:
        def sq(p):
            p = np.array(p, float)
            p[..., 0] = 0.5 + (p[..., 0] - 0.5) * sx
            return p
        parts = [(n, sq(p) if not isinstance(p, tuple) else
                  ("ellipse", sq(p[1]), (p[2][0] * sx, p[2][1]))) for n, p in parts]
        neck = sq(neck) if neck is not None else None
        lm = [tuple(sq(p)) for p in lm]
    return dict(parts=parts, neck=neck, landmarks=lm, levels=lv)


def is_trousers(cat):
    return cat in TROUSER_CATS


def is_skirt(cat):
    return cat in SKIRT_CATS


# extents (figure units) of the collar decorations render.paint_garment draws around the neckline
COLLAR_EXTENT = {"pointed": (0.02, 0.14, 0.19), "mandarin": (0.0, 0.125, 0.145),
                 "turtle": (0.0, 0.105, 0.15), "lapel": (0.035, 0.145, 0.29)}
HOOD_ELLIPSE = ((0.5, 0.095), (0.075, 0.08))  # the hood part of garment_geometry


def part_regions(it, geo):
    """True part boxes (x1, y1, x2, y2) in figure units of a front view, for paper 004's part
    extraction: ``torso`` (the torso polygon), ``left_sleeve`` / ``right_sleeve`` (image left first;
    absent when sleeveless), ``collar`` (neckline opening + collar decoration + hood), ``fastening``
    (the centre strip where buttons / zips are drawn, neckline to the bodice's end), ``chest``
    (between the armpits, from just above them to the waist or the hem).  {} for lower-body garments."""
    if it["type"] == 2:
        return {}
    lv = geo["levels"]

    def bb(pts):
        pts = np.asarray(pts, float)
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    def ellipse_pts(c, ax):
        return [(c[0] - ax[0], c[1] - ax[1]), (c[0] + ax[0], c[1] + ax[1])]

    torso = [p for n, p in geo["parts"] if n == "torso"][0]
    out = {"torso": bb(torso)}
    sleeves = [p for n, p in geo["parts"] if n == "sleeve"]
    if sleeves:
        puffs = [p for n, p in geo["parts"] if n == "puff"]
        for name, poly in zip(("left_sleeve", "right_sleeve"), sorted(sleeves, key=lambda p: p[:, 0].mean())):
            pts = list(poly)
            for _, c, ax in puffs:  # a puff belongs to the sleeve on its side
                if (c[0] < 0.5) == (poly[:, 0].mean() < 0.5):
                    pts += ellipse_pts(c, ax)
            out[name] = bb(pts)
    nw = lv["neck_w"]
    pts = list(geo["neck"])
    ext = COLLAR_EXTENT.get(it["collar"])
    if ext is not None:
        dx, y0, y1 = ext
        pts += [(0.5 - nw - dx, y0), (0.5 + nw + dx, y1)]
    if it["collar"] == "hood":
        pts += ellipse_pts(*HOOD_ELLIPSE)
    out["collar"] = bb(pts)
    # the fastening strip as render.paint_garment draws buttons / zips (Peacoat: two button rows)
    bottom = lv["hem_y"] if (it["type"] == 1 or it["category"] in ("Coat", "Kimono", "Robe", "Kaftan")) else WAIST_Y
    half = 0.045 if it["category"] == "Peacoat" else 0.03
    out["fastening"] = (0.5 - half, lv["neck_bottom"], 0.5 + half, bottom)
    chest_half = 0.8 * lv["waist_w"]
    out["chest"] = (0.5 - chest_half, ARMPIT_Y - 0.05, 0.5 + chest_half, min(WAIST_Y, lv["hem_y"]))
    return out
