"""Label derivation + label noise for every dataset (DeepFashion attributes, e-Clothing keyword
groups, Shopping100k groups).  All decisions use the plan RNG (sequential, main process)."""
import numpy as np

from .catalog import BASE_ATTRS, GROUP_NAMES, GROUP_PROP, KEYWORDS, STYLE_ATTR, STYLES, TROUSER_CATS
from .styles import primary_style

STYLE_KW = dict(zip(STYLES, KEYWORDS["Style"]))
SLEEVE_KW = dict(zip(["sleeveless", "short", "elbow", "long"], KEYWORDS["Length of Sleeve"]))
OCC_KW = dict(zip(["daily", "office", "party", "sport", "home"], KEYWORDS["Occasion"]))
CRAFT_KW = dict(zip(["print", "embroidery", "pleat", "ripped", "washed"], KEYWORDS["Craft"]))
NECK_KW = dict(zip(["crew", "v", "square", "scoop", "boat"], KEYWORDS["Collar"][:5]))
COLLAR_KW = dict(zip(["pointed", "mandarin", "lapel", "hood", "turtle"], KEYWORDS["Collar"][5:]))
TLEN_KW = dict(zip(["short", "knee", "cropped", "full"], KEYWORDS["Length of Trousers"]))
THICK_KW = dict(zip(["thin", "medium", "thick"], KEYWORDS["Thickness"]))
SLEN_KW = dict(zip(["mini", "knee", "midi", "maxi"], KEYWORDS["Length of Skirts"]))
SSHAPE_KW = dict(zip(["a-line", "pencil", "flared", "pleated", "wrap"], KEYWORDS["Skirt"]))
LEATHER_KW = dict(zip(["pu", "genuine", "suede", "patent"], KEYWORDS["Leather"]))
CARD_KW = dict(zip(["cropped", "regular", "long"], KEYWORDS["Cardigan"]))
WAIST_KW = dict(zip(["belt", "elastic", "drawstring", "high"], KEYWORDS["Waist"]))
SSHAPE2_KW = dict(zip(["regular", "puff", "bell", "bat"], KEYWORDS["Sleeve"]))
KW_GROUP = {k: g for g, ks in KEYWORDS.items() for k in ks}


# ------------------------------------------------------------------------------ e-Clothing
def eclothing_truth(item, comp):
    """{group: keyword} of every group that applies to a photo of ``item`` (+ visible companion)."""
    it, st = item["attrs"], item["styles"]
    g = {"Color": it["color"], "Gender": "womens" if it["gender"] == "women" else "mens",
         "Season": it["season"], "Style": STYLE_KW[primary_style(st)],
         "Version": it["fit"] + " fit", "Occasion": OCC_KW[it["occasion"]],
         "Thickness": THICK_KW[it["thickness"]], "Crowd": it["crowd"]}
    garments = [it] + ([comp] if comp is not None else [])
    for gi, x in enumerate(garments):
        c = x["category"]
        if x["type"] == 1 and c != "Cardigan" and "Coat" not in g:
            g["Coat"] = c.lower()
        if c == "Coat" and "Coat" not in g:
            g["Coat"] = "coat"
        if c in TROUSER_CATS and "Pantsuit" not in g:
            g["Pantsuit"] = c.lower()
            g["Length of Trousers"] = TLEN_KW[x["trouser_len"]]
        if x["skirt_len"] != "none" and "Skirt" not in g:
            g["Skirt"] = SSHAPE_KW[x["skirt_shape"]]
            g["Length of Skirts"] = SLEN_KW[x["skirt_len"]]
        if x["sleeve_len"] not in ("none",) and "Length of Sleeve" not in g:
            g["Length of Sleeve"] = SLEEVE_KW[x["sleeve_len"]]
            if gi == 0 and x["sleeve_shape"] not in ("none",):
                g["Sleeve"] = SSHAPE2_KW[x["sleeve_shape"]]
    if it["craft"] != "none":
        g["Craft"] = CRAFT_KW[it["craft"]]
    if it["type"] != 2:
        g["Collar"] = COLLAR_KW[it["collar"]] if it["collar"] != "none" else NECK_KW[it["neckline"]]
    if it["dense"]:
        g["Dense"] = "fleece-lined"
    if it["leather_kind"] != "none":
        g["Leather"] = LEATHER_KW[it["leather_kind"]]
    if it["category"] == "Cardigan":
        g["Cardigan"] = CARD_KW[it["upper_len"]]
    if it["waist"] != "none":
        g["Waist"] = WAIST_KW[it["waist"]]
    if it["fringe"]:
        g["Feather"] = "fringe"
    if it["category"] == "Cheongsam":
        g["Cheongsam"] = "short cheongsam" if it["skirt_len"] in ("mini", "knee") else \
            "long cheongsam"
    if it["wool"] != "none":
        g["Wool Thickness"] = it["wool"] + " wool"
    return g


def eclothing_labels(rng, truths, missing_rate, wrong_rate, floor=2):
    """Observed labels: heavy-tailed group annotation (paper 000 Table II proportions), missing
    labels and wrong labels.  Returns (labels, annotation probabilities)."""
    n = len(truths)
    app = {g: np.array([g in t for t in truths]) for g in GROUP_NAMES}
    frac = {g: app[g].mean() for g in GROUP_NAMES}
    # Colour annotated on a fraction A of images; every other group on target * A of the images.
    A = min([0.97] + [frac[g] / GROUP_PROP[g] for g in GROUP_NAMES if GROUP_PROP[g] >= 0.15
                      and frac[g] > 0])
    prob = {g: (min(1.0, GROUP_PROP[g] * A / frac[g]) if frac[g] > 0 else 0.0) * (1 - missing_rate)
            for g in GROUP_NAMES}
    labels = [dict() for _ in range(n)]
    for g in GROUP_NAMES:
        idx = np.flatnonzero(app[g])
        u = rng.random(n)
        chosen = [i for i in idx if u[i] < prob[g]]
        if len(chosen) < floor and len(idx) >= floor:  # rare groups still exist
            order = idx[np.argsort(u[idx])]
            chosen = sorted(set(chosen) | set(order[:floor].tolist()))
        kws = KEYWORDS[g]
        free = list(np.flatnonzero(~app[g]))
        for i in chosen:
            kw = truths[i][g]
            if rng.random() < wrong_rate:
                if len(kws) > 1:
                    kw = kws[int(rng.choice([j for j, k in enumerate(kws) if k != kw]))]
                elif free:  # single-keyword group: the label lands on a wrong image
                    j = free.pop(int(rng.integers(len(free))))
                    labels[j][g] = kw
                    continue
            labels[i][g] = kw
    return labels, prob


def ratio_subset(rng, truths, group_a, group_b, wrong_rate, ratio=10):
    """Paper 000 Tables IV/V: all images labelled in ``group_a``, and 1/ratio as many in
    ``group_b`` (same keyword noise)."""
    a = [i for i, t in enumerate(truths) if group_a in t]
    b = [i for i, t in enumerate(truths) if group_b in t]
    nb = min(len(b), max(1, len(a) // ratio))
    b = sorted(rng.choice(b, size=nb, replace=False).tolist()) if b else []
    out = {}
    for g, idx in ((group_a, a), (group_b, b)):
        kws = KEYWORDS[g]
        for i in idx:
            kw = truths[i][g]
            if rng.random() < wrong_rate and len(kws) > 1:
                kw = kws[int(rng.choice([j for j, k in enumerate(kws) if k != kw]))]
            out.setdefault(i, {})[g] = kw
    return out


# ------------------------------------------------------------------------------ DeepFashion
def item_slots(item):
    it = item["attrs"]
    v = dict(it)
    v["style"] = {STYLES[k] for k in np.flatnonzero(item["styles"])}
    return v


def base_attr_vector(item):
    v = item_slots(item)
    out = np.full(len(BASE_ATTRS), -1, np.int8)
    for j, (_, _, slot, val) in enumerate(BASE_ATTRS):
        if slot == "style":
            out[j] = 1 if STYLE_ATTR[val] in v["style"] else -1
        elif v.get(slot) == val:
            out[j] = 1
    return out


SLOT_OF = [a[2] for a in BASE_ATTRS]
SLOT_IDX = {}
for _j, _s in enumerate(SLOT_OF):
    SLOT_IDX.setdefault(_s, []).append(_j)


def noisy_attrs(rng, vec, missing_rate, wrong_rate):
    """Per-image noise on a clean base attribute vector: wrong labels (a positive moved to another
    value of the same slot) and missing labels (a whole slot unknown = 0)."""
    out = vec.copy()
    for slot, js in SLOT_IDX.items():
        pos = [j for j in js if vec[j] == 1]
        if len(js) > 1:
            for j in pos:
                if rng.random() < wrong_rate:
                    alt = [k for k in js if vec[k] != 1]
                    if alt:
                        out[j] = -1
                        out[alt[int(rng.integers(len(alt)))]] = 1
        if rng.random() < missing_rate:
            out[js] = 0
    return out


def compound_attrs(clean, n_total):
    """Frequent pairwise compounds ("striped knit", ...) to reach a realistic attribute count."""
    n_base = clean.shape[1]
    if n_total <= n_base:
        return []
    pos = (clean == 1).astype(np.int32)
    co = pos.T @ pos
    cands = []
    for a in range(n_base):
        for b in range(n_base):
            if a != b and SLOT_OF[a] != SLOT_OF[b] and BASE_ATTRS[a][1] <= BASE_ATTRS[b][1] \
                    and co[a, b] > 0 and (BASE_ATTRS[a][1] < BASE_ATTRS[b][1] or a < b):
                cands.append((-int(co[a, b]), a, b))
    cands.sort()
    return [(a, b) for _, a, b in cands[:n_total - n_base]]


def with_compounds(vec, pairs):
    if not pairs:
        return vec
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    va, vb = vec[a], vec[b]
    comp = np.where((va == 0) | (vb == 0), 0, np.where((va == 1) & (vb == 1), 1, -1))
    return np.concatenate([vec, comp.astype(np.int8)])


# ------------------------------------------------------------------------------ Shopping100k
def shopping_truth(item):
    """{group: value} of a Shopping100k-style row; "" where the group does not apply (collar,
    neckline, sleeve length of a lower-body garment).  "none" is a value (no sport, no pocket, no
    fastening), as the drawing shows it."""
    it = item["attrs"]
    t = it["type"]
    length = it["upper_len"] if t == 1 else (it["trouser_len"] if it["trouser_len"] != "none"
                                             else it["skirt_len"])
    if it["category"] in ("Coat", "Kimono", "Robe", "Kaftan"):
        length = "long"
    return {
        "category": it["category"].lower(), "gender": it["gender"], "fabric": it["fabric"],
        "fit": it["fit"], "length": length, "sport": it["sport"],
        "color": it["color"], "pattern": it["pattern"],
        "collar": (it["collar"] if it["collar"] != "none" else "collarless") if t != 2 else "",
        "neckline": it["neckline"] if t != 2 else "",
        "fastening": it["fastening"], "sleeve_length": it["sleeve_len"] if t != 2 else "",
        "pocket": it["pocket"],
    }


SHOP_VALUES = {
    "category": None, "gender": ["women", "men"],
    "fabric": ["cotton", "denim", "knit", "leather", "chiffon", "lace", "satin", "sequin"],
    "fit": ["slim", "regular", "loose"],
    "length": ["cropped", "regular", "long", "short", "knee", "full", "mini", "midi", "maxi"],
    "sport": ["none", "running", "yoga", "football"],
    "color": None, "pattern": ["solid", "stripe", "dot", "plaid", "floral", "graphic", "animal"],
    "collar": ["collarless", "pointed", "mandarin", "lapel", "hood", "turtle"],
    "neckline": ["crew", "v", "square", "scoop", "boat"],
    "fastening": ["none", "buttons", "zip"],
    "sleeve_length": ["sleeveless", "short", "elbow", "long"],
    "pocket": ["none", "patch", "kangaroo", "flap", "side"],
}


def noisy_shopping(rng, truth, values, missing_rate, wrong_rate):
    out = {}
    for g, v in truth.items():
        if v == "" or rng.random() < missing_rate:
            out[g] = ""
            continue
        if rng.random() < wrong_rate:
            alt = [x for x in values[g] if x != v]
            v = alt[int(rng.integers(len(alt)))]
        out[g] = v
    return out
