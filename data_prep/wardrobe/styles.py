"""Paper 003's 13 styles as noisy functions of the drawn attributes.

Structure reproduced: heavy imbalance (Sports ~0.2 %, Office lady / Korean / Western / Lady common),
Sports => Casual (~95 %), Office lady => Lady (~99 %), Japanese / Korean / Western / British never
together (one regional style at most), Japanese close to Girl, 1..5 styles per image."""
import numpy as np

from .catalog import STYLES

IDX = {s: i for i, s in enumerate(STYLES)}


def style_scores(it):
    """Deterministic evidence (log-odds-like) for each style from an item's attributes."""
    c, col, pat, fab = it["category"], it["color"], it["pattern"], it["fabric"]
    women = it["gender"] == "women"
    s = dict.fromkeys(STYLES, -3.0)
    s["Sports"] = 6.0 if it["sport"] != "none" else -9.0
    s["Casual"] = -1.0 + 1.5 * (c in ("Tee", "Hoodie", "Jeans", "Shorts", "Joggers", "Sweatshorts",
                                      "Cutoffs", "Sweatpants", "Henley", "Top", "Romper")) \
        + 0.8 * (pat == "graphic") + 0.6 * (fab == "denim") + 1.0 * (it["sport"] != "none")
    s["Office lady"] = -1.0 + 2.2 * (c in ("Blazer", "Button-Down", "Shirtdress", "Chinos",
                                           "Peacoat", "Blouse")) \
        + 1.2 * (it["skirt_shape"] == "pencil") + 0.6 * (pat in ("solid", "stripe")) \
        + 0.5 * (col in ("white", "black", "navy", "beige", "grey")) - 3.0 * (not women)
    s["Lady"] = -0.7 + 1.2 * (it["type"] == 3 or c in ("Skirt", "Blouse")) \
        + 0.8 * (it["waist"] == "belt") + 0.6 * (fab in ("satin", "lace", "chiffon")) \
        - 3.0 * (not women)
    s["Girl"] = -1.9 + 1.2 * (pat == "dot") + 1.0 * (col in ("pink", "white", "yellow")) \
        + 1.0 * (it["skirt_len"] == "mini") + 1.0 * (it["sleeve_shape"] == "puff") \
        + 0.6 * (c == "Romper") - 3.0 * (not women)
    s["Minimalist"] = -2.0 + 1.6 * (pat == "solid") + 0.8 * (col in ("black", "white", "grey",
                                                                      "beige")) \
        - 0.8 * (it["fringe"] or it["craft"] in ("embroidery", "ripped")) \
        - 0.5 * (it["collar"] in ("hood",))
    s["Natural"] = -1.9 + 1.2 * (col in ("beige", "khaki", "green", "brown")) \
        + 0.8 * (it["fit"] == "loose") + 0.6 * (fab in ("cotton", "knit"))
    s["Punk"] = -3.0 + 2.0 * (fab == "leather") + 1.0 * (col == "black") \
        + 1.2 * (it["craft"] == "ripped") + 0.5 * (it["fastening"] == "zip")
    s["Ethnic"] = -3.0 + 3.5 * (c in ("Cheongsam", "Kimono", "Kaftan", "Sarong", "Poncho")) \
        + 1.0 * (it["craft"] == "embroidery") + 0.8 * it["fringe"] + 0.4 * (pat == "floral")
    # regional styles: one at most, chosen by score below
    s["Korean"] = -0.4 + 1.0 * (it["fit"] == "loose") + 0.8 * (col in ("pink", "beige", "white",
                                                                        "grey")) \
        + 0.4 * (c in ("Tee", "Cardigan", "Sweater", "Dress", "Skirt"))
    s["Western"] = -0.6 + 1.4 * (fab in ("denim", "leather")) + 1.5 * it["fringe"] \
        + 0.6 * (col in ("brown", "khaki", "red")) + 0.5 * (it["waist"] == "belt")
    s["Japanese"] = -1.8 + 1.0 * (pat in ("dot", "stripe")) + 0.8 * (it["skirt_shape"] ==
                                                                     "pleated") \
        + 0.6 * (col in ("navy", "white")) + 0.8 * (c in ("Kimono",))
    s["British"] = -2.2 + 1.8 * (pat == "plaid") + 1.4 * (c in ("Peacoat", "Blazer", "Coat")) \
        + 0.6 * (col in ("navy", "khaki", "brown"))
    return s


def sample_styles(rng, it):
    """Multi-hot (13,) int array of styles for one item (noisy function of its attributes)."""
    s = style_scores(it)
    z = {k: v + rng.normal(0, 0.6) for k, v in s.items()}
    lab = np.zeros(len(STYLES), np.int64)
    for k in STYLES:
        if k in ("Japanese", "Korean", "Western", "British"):
            continue
        if k == "Sports":
            lab[IDX[k]] = int(it["sport"] != "none" and rng.random() < 0.97)
            continue
        lab[IDX[k]] = int(rng.random() < 1.0 / (1.0 + np.exp(-z[k])))
    reg = max(("Japanese", "Korean", "Western", "British"), key=lambda k: z[k])
    if rng.random() < 1.0 / (1.0 + np.exp(-z[reg])):
        lab[IDX[reg]] = 1
    # implications
    if lab[IDX["Sports"]] and rng.random() < 0.95:
        lab[IDX["Casual"]] = 1
    if lab[IDX["Office lady"]] and rng.random() < 0.99:
        lab[IDX["Lady"]] = 1
    if lab[IDX["Japanese"]] and rng.random() < 0.5:
        lab[IDX["Girl"]] = 1
    if lab.sum() == 0:  # every image has at least one style
        best = max((k for k in STYLES if k != "Sports"), key=lambda k: z[k])
        lab[IDX[best]] = 1
    while lab.sum() > 5:  # and at most five
        on = [k for k in STYLES if lab[IDX[k]]]
        lab[IDX[min(on, key=lambda k: z[k])]] = 0
    return lab


def primary_style(labels):
    on = [STYLES[i] for i in np.flatnonzero(labels)]
    for k in ("Sports", "Office lady", "Punk", "Ethnic", "Japanese", "Korean", "Western",
              "British", "Girl", "Lady", "Minimalist", "Natural", "Casual"):
        if k in on:
            return k
    return on[0]
