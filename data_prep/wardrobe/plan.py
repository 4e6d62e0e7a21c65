"""The plan: every item, every shot and every label, drawn sequentially from one seeded RNG in the
main process (cheap).  Rendering (``render.py``) only consumes per-shot seeds, so the output is
byte-identical whatever the number of workers."""
import numpy as np

from .attributes import crowd_of, sample_item
from .catalog import (CAT_NAMES, CAT_TYPE, CATEGORIES, RARE_FLOOR, RULES_SPORT_CATS, STYLES,
                      TROUSER_CATS)
from .styles import sample_styles

SIZES = {
    # items -> images: ~4.8 photographs per item (2-4 shop, 0-2 consumer, 1 shopping)
    "tiny": dict(items=440, image_size=128),
    "small": dict(items=4200, image_size=256),
    "full": dict(items=21500, image_size=256),
}
POSE_NAMES = {1: "front", 2: "side", 3: "back", 4: "full", 5: "additional", 6: "flat"}
COMP_UPPER = {"Tee": 4, "Blouse": 3, "Tank": 2, "Sweater": 2, "Top": 2, "Button-Down": 1}
COMP_LOWER = {"Jeans": 4, "Skirt": 2, "Shorts": 2, "Chinos": 1, "Leggings": 1, "Joggers": 1,
              "Culottes": 0.5}
SPORT_FLOOR = 2


def _pick(rng, d):
    k = list(d)
    w = np.array([d[x] for x in k], float)
    return k[int(rng.choice(len(k), p=w / w.sum()))]


def make_items(rng, n):
    w = np.array([c[2] for c in CATEGORIES])
    cats = [CAT_NAMES[i] for i in rng.choice(len(CAT_NAMES), size=n, p=w / w.sum())]
    for cat, floor in RARE_FLOOR.items():  # rare classes still exist at every size
        have = sum(c == cat for c in cats)
        if have < floor:
            for j in rng.choice(n, size=floor - have, replace=False):
                cats[int(j)] = cat
    items = []
    for i, cat in enumerate(cats):
        it = sample_item(rng, cat)
        items.append(dict(id=i, attrs=it))
    nsport = sum(x["attrs"]["sport"] != "none" for x in items)
    if nsport < SPORT_FLOOR:  # Sports style must exist (~0.2 %) even at tiny size
        cand = [x for x in items if x["attrs"]["category"] in RULES_SPORT_CATS
                and x["attrs"]["sport"] == "none"]
        for j in rng.choice(len(cand), size=min(len(cand), SPORT_FLOOR - nsport), replace=False):
            a = cand[int(j)]["attrs"]
            a.update(sport="running", pattern="solid", occasion="sport", craft="none")
    for x in items:
        it = x["attrs"]
        x["styles"] = sample_styles(rng, it)
        on = [i for i in np.flatnonzero(x["styles"])]
        it["crowd"] = crowd_of(rng, it, [STYLES[k] for k in on])
        comp = None
        t = it["type"]
        if t == 1 and rng.random() < 0.75:
            comp = sample_item(rng, _pick(rng, COMP_LOWER))
        elif t == 2 and rng.random() < 0.85:
            comp = sample_item(rng, _pick(rng, COMP_UPPER))
        if comp is not None:
            comp["gender"] = it["gender"]
            comp["sport"] = "none"
        x["companion"] = comp
        x["seed"] = int(rng.integers(2**31))
        x["comp_seed"] = int(rng.integers(2**31))
    return items


def make_shots(rng, items, image_size):
    shots = []
    for x in items:
        n_shop = int(rng.choice([2, 3, 4], p=[0.35, 0.4, 0.25]))
        n_cons = int(rng.choice([0, 1, 2], p=[0.3, 0.5, 0.2]))
        kinds = ["shop"] * n_shop + ["consumer"] * n_cons + ["shopping"]
        for k, kind in enumerate(kinds):
            if kind == "shop":
                pt = 1 if k == 0 else int(_pick(rng, {1: .25, 2: .2, 3: .15, 4: .15, 5: .15,
                                                      6: .1}))
                zoom = {4: 0.55, 5: float(rng.uniform(1.3, 1.8)), 6: 0.85}.get(pt, 0.8)
                zoom = zoom * float(rng.uniform(0.95, 1.05)) if pt != 5 else zoom
                rot, jit, occ = float(rng.uniform(-3, 3)), 0.02, bool(rng.random() < 0.08)
                amt = int(rng.choice([0, 1], p=[0.75, 0.25])) + (pt == 2)
                comp = x["companion"] is not None and pt != 6 and (pt == 4 or rng.random() < 0.8)
                quality = 92
            elif kind == "consumer":
                pt = 1
                zoom = float(rng.uniform(1.3, 1.6)) if rng.random() < 0.15 else \
                    float(rng.uniform(0.55, 0.9))
                rot = float(np.clip(rng.normal(0, 10), -25, 25))
                jit, occ = 0.05, bool(rng.random() < 0.35)
                amt = int(rng.choice([0, 1, 2], p=[0.4, 0.4, 0.2]))
                comp = x["companion"] is not None
                quality = int(rng.integers(70, 88))
            else:
                pt, zoom, rot, jit, occ, amt, comp, quality = 6, 0.85, 0.0, 0.0, False, 0, \
                    False, 95
            var = 5 if zoom > 1.5 else 4 if zoom > 1.05 else 1 + min(2, amt + (abs(rot) > 15))
            shots.append(dict(
                index=len(shots), item=x["id"], kind=kind, pose_type=pt, pose_amt=min(2, amt),
                zoom=zoom, rot=rot, jitter=jit, occlude=occ, comp=bool(comp),
                tucked=bool(rng.random() < 0.3), variation_type=var, quality=quality,
                seed=int(rng.integers(2**31)), size=image_size))
    return shots


def render_spec(shot, items):
    x = items[shot["item"]]
    return dict(shot, item=x["attrs"], companion=x["companion"] if shot["comp"] else None,
                item_seed=x["seed"], comp_seed=x["comp_seed"])


def split_items(rng, n, fracs, names):
    perm = rng.permutation(n)
    out = np.empty(n, object)
    edges = np.round(np.cumsum([0] + list(fracs)) / sum(fracs) * n).astype(int)
    for name, a, b in zip(names, edges[:-1], edges[1:]):
        out[perm[a:b]] = name
    return out


def trousers(it):
    return it is not None and it["category"] in TROUSER_CATS


def cat_type(it):
    return CAT_TYPE[it["category"]]
