"""Sampling of one garment's drawn attributes (per category rules) and its latent attributes
(gender, season, occasion, crowd) derived from the drawn ones with noise."""
from .catalog import CAT_TYPE, COLOR_NAMES, COLOR_WEIGHTS, SKIRT_CATS, TROUSER_CATS

# Per category rules: slot -> {value: weight}.  Anything not given falls back to the type default.
_U = dict(sleeve_len={"sleeveless": 1, "short": 3, "elbow": 1, "long": 3},
          neckline={"crew": 4, "v": 3, "square": 1, "scoop": 2, "boat": 1},
          collar={"none": 1}, upper_len={"cropped": 1, "regular": 6, "long": 1},
          fastening={"none": 1}, pocket={"none": 1}, fabric={"cotton": 1},
          fit={"slim": 1, "regular": 2, "loose": 1})
RULES = {
    "Anorak": dict(collar={"hood": 4, "mandarin": 1}, sleeve_len={"long": 1}, fastening={"zip": 1},
                   pocket={"kangaroo": 2, "flap": 1}, thick=1.0, dense=0.45),
    "Blazer": dict(collar={"lapel": 1}, neckline={"v": 1}, sleeve_len={"long": 4, "elbow": 1},
                   fastening={"buttons": 1}, pocket={"flap": 2, "none": 1},
                   fit={"slim": 2, "regular": 2}),
    "Blouse": dict(sleeve_len={"sleeveless": 1, "short": 2, "elbow": 2, "long": 3},
                   collar={"none": 4, "pointed": 1, "mandarin": 1},
                   fabric={"cotton": 2, "chiffon": 3, "satin": 1, "lace": 1},
                   fastening={"none": 2, "buttons": 1}, shape_p=0.3, thin=0.6),
    "Bomber": dict(collar={"mandarin": 1}, sleeve_len={"long": 1}, fastening={"zip": 1},
                   fabric={"cotton": 3, "leather": 1, "satin": 1}, thick=0.6),
    "Button-Down": dict(collar={"pointed": 1}, sleeve_len={"short": 1, "long": 3},
                        fastening={"buttons": 1}, pocket={"patch": 1, "none": 1}),
    "Cardigan": dict(neckline={"v": 3, "crew": 1}, sleeve_len={"long": 4, "elbow": 1},
                     fastening={"buttons": 3, "none": 1}, fabric={"knit": 1},
                     upper_len={"cropped": 1, "regular": 2, "long": 1}),
    "Flannel": dict(collar={"pointed": 1}, sleeve_len={"long": 1}, fastening={"buttons": 1},
                    pattern={"plaid": 1}, pocket={"patch": 1}),
    "Halter": dict(sleeve_len={"sleeveless": 1}, neckline={"v": 1, "scoop": 1}, thin=0.8),
    "Henley": dict(neckline={"crew": 1}, fastening={"buttons": 1},
                   sleeve_len={"short": 1, "long": 1}),
    "Hoodie": dict(collar={"hood": 1}, sleeve_len={"long": 1}, fastening={"none": 2, "zip": 1},
                   pocket={"kangaroo": 1}, dense=0.65, sport_ok=True),
    "Jacket": dict(collar={"lapel": 2, "mandarin": 1, "pointed": 2}, sleeve_len={"long": 1},
                   fastening={"zip": 1, "buttons": 1}, pocket={"flap": 1, "patch": 1, "none": 1},
                   fabric={"cotton": 3, "denim": 2, "leather": 2}, dense=0.35),
    "Parka": dict(collar={"hood": 1}, sleeve_len={"long": 1}, fastening={"zip": 1},
                  pocket={"flap": 1}, upper_len={"long": 1}, thick=1.0, dense=0.7),
    "Peacoat": dict(collar={"lapel": 1}, neckline={"v": 1}, sleeve_len={"long": 1},
                    fastening={"buttons": 1}, pocket={"flap": 1}, thick=0.7),
    "Poncho": dict(sleeve_len={"sleeveless": 1}, neckline={"crew": 1, "v": 1}, fabric={"knit": 1},
                   fringe=0.5, fit={"loose": 1}),
    "Sweater": dict(collar={"none": 3, "turtle": 1}, neckline={"crew": 3, "v": 2},
                    sleeve_len={"long": 1}, fabric={"knit": 1}, dense=0.35),
    "Tank": dict(sleeve_len={"sleeveless": 1}, neckline={"scoop": 2, "crew": 1, "v": 1}, thin=0.8,
                 sport_ok=True),
    "Tee": dict(sleeve_len={"short": 5, "long": 1}, neckline={"crew": 3, "v": 1},
                pattern={"solid": 4, "stripe": 2, "graphic": 3, "dot": 1}, sport_ok=True),
    "Top": dict(upper_len={"cropped": 3, "regular": 2}, fabric={"cotton": 3, "lace": 1, "satin": 1,
                                                               "sequin": 1}, shape_p=0.3),
    "Turtleneck": dict(collar={"turtle": 1}, neckline={"crew": 1}, sleeve_len={"long": 1},
                       fabric={"knit": 1}),
    # lower
    "Capris": dict(trouser_len={"cropped": 1}, fit={"slim": 1}),
    "Chinos": dict(trouser_len={"full": 1}, pocket={"side": 1},
                   color={"khaki": 4, "beige": 3, "navy": 2, "black": 1}),
    "Culottes": dict(trouser_len={"cropped": 1, "knee": 1}, fit={"loose": 1}, thin=0.4),
    "Cutoffs": dict(trouser_len={"short": 1}, fabric={"denim": 1}, craft={"ripped": 1,
                    "washed": 1, "none": 1}, pocket={"side": 1}),
    "Jeans": dict(trouser_len={"full": 5, "cropped": 1}, fabric={"denim": 1}, pocket={"side": 1},
                  craft={"none": 3, "ripped": 1, "washed": 1}, dense=0.2),
    "Joggers": dict(trouser_len={"full": 1}, waist={"elastic": 1, "drawstring": 1},
                    dense=0.45, sport_ok=True),
    "Leggings": dict(trouser_len={"full": 3, "cropped": 1}, fit={"slim": 1},
                     fabric={"knit": 2, "leather": 1}, color={"black": 5, "grey": 1, "navy": 1},
                     sport_ok=True, dense=0.3),
    "Sarong": dict(skirt_shape={"wrap": 1}, skirt_len={"midi": 1, "maxi": 2},
                   pattern={"floral": 2, "solid": 1}),
    "Shorts": dict(trouser_len={"short": 1}, fabric={"cotton": 4, "denim": 2, "leather": 1}),
    "Skirt": dict(skirt_len={"mini": 3, "knee": 3, "midi": 2, "maxi": 1},
                  skirt_shape={"a-line": 3, "pencil": 2, "flared": 2, "pleated": 2, "wrap": 1},
                  fabric={"cotton": 3, "denim": 1, "leather": 1, "chiffon": 1, "lace": 1}),
    "Sweatpants": dict(trouser_len={"full": 1}, waist={"drawstring": 1}, fit={"loose": 1},
                       dense=0.55, sport_ok=True),
    "Sweatshorts": dict(trouser_len={"short": 1}, waist={"drawstring": 1}, sport_ok=True),
    # full
    "Cheongsam": dict(collar={"mandarin": 1}, neckline={"crew": 1},
                      sleeve_len={"sleeveless": 1, "short": 2}, skirt_shape={"pencil": 1},
                      skirt_len={"knee": 1, "maxi": 1}, fabric={"satin": 1},
                      pattern={"floral": 2, "solid": 1}, craft={"embroidery": 1}, fit={"slim": 1},
                      color={"red": 3, "navy": 1, "pink": 1, "black": 1}),
    "Coat": dict(collar={"lapel": 3, "hood": 1, "pointed": 1}, neckline={"v": 1},
                 sleeve_len={"long": 1}, fastening={"buttons": 2, "zip": 1},
                 pocket={"flap": 1, "none": 1}, thick=1.0, dense=0.5, belt=0.2,
                 fabric={"cotton": 5, "leather": 1}),
    "Dress": dict(skirt_len={"mini": 2, "knee": 3, "midi": 2, "maxi": 2},
                  skirt_shape={"a-line": 4, "pencil": 2, "flared": 2, "pleated": 1, "wrap": 1},
                  fabric={"cotton": 4, "chiffon": 2, "lace": 1, "satin": 1, "sequin": 1},
                  belt=0.12, shape_p=0.25),
    "Jumpsuit": dict(trouser_len={"full": 3, "cropped": 1}, belt=0.15),
    "Kaftan": dict(sleeve_len={"elbow": 1, "long": 1}, sleeve_shape={"bat": 3, "bell": 1},
                   skirt_len={"maxi": 1}, skirt_shape={"a-line": 1}, fit={"loose": 1},
                   pattern={"floral": 2, "graphic": 1, "stripe": 1}, fringe=0.3),
    "Kimono": dict(sleeve_len={"elbow": 1, "long": 1}, sleeve_shape={"bat": 1},
                   neckline={"v": 1}, upper_len={"long": 1}, belt=0.6, pattern={"floral": 3,
                   "solid": 1}, fit={"loose": 1}),
    "Onesie": dict(collar={"hood": 1}, trouser_len={"full": 1}, fastening={"zip": 1}, dense=0.75,
                   sleeve_len={"long": 1}),
    "Robe": dict(collar={"lapel": 1}, neckline={"v": 1}, sleeve_len={"long": 1}, belt=0.8,
                 upper_len={"long": 1}, fabric={"satin": 1, "cotton": 1}, dense=0.4,
                 fit={"loose": 1}),
    "Romper": dict(trouser_len={"short": 1}, sleeve_len={"sleeveless": 2, "short": 2},
                   shape_p=0.3),
    "Shirtdress": dict(collar={"pointed": 1}, fastening={"buttons": 1},
                       skirt_len={"knee": 2, "midi": 1}, skirt_shape={"a-line": 1, "pencil": 1},
                       belt=0.3, sleeve_len={"short": 1, "long": 1}),
    "Sundress": dict(sleeve_len={"sleeveless": 1}, skirt_len={"knee": 2, "midi": 1, "mini": 1},
                     skirt_shape={"a-line": 2, "flared": 2}, pattern={"floral": 3, "solid": 1,
                     "dot": 1}, thin=0.8),
}

PATTERN_W = {"solid": 9, "stripe": 2.5, "dot": 1.5, "plaid": 1.2, "floral": 2.5, "graphic": 1,
             "animal": 0.6}
WOMEN_P = {"Dress": .99, "Skirt": .99, "Blouse": .97, "Halter": .99, "Sundress": .99,
           "Cheongsam": 1., "Romper": .97, "Leggings": .95, "Kaftan": .95, "Sarong": .97,
           "Top": .9, "Capris": .9, "Culottes": .92, "Jumpsuit": .9, "Cardigan": .8,
           "Shirtdress": .98, "Kimono": .85, "Robe": .7, "Button-Down": .3, "Flannel": .3,
           "Chinos": .3, "Henley": .25, "Peacoat": .5, "Parka": .4, "Anorak": .35,
           "Bomber": .4, "Sweatshorts": .3, "Blazer": .6}


def _pick(rng, d):
    keys = list(d)
    w = [float(d[k]) for k in keys]
    s = sum(w)
    return keys[int(rng.choice(len(keys), p=[x / s for x in w]))]


def _rule(cat, slot, default):
    r = RULES.get(cat, {})
    return r.get(slot, default)


def sample_item(rng, cat):
    """Drawn + latent attributes of one garment of category ``cat`` (a plain dict)."""
    t = CAT_TYPE[cat]
    r = RULES.get(cat, {})
    it = {"category": cat, "type": t}
    it["color"] = _pick(rng, r.get("color", dict(zip(COLOR_NAMES, COLOR_WEIGHTS))))
    it["color2"] = _pick(rng, {c: 1 for c in COLOR_NAMES if c != it["color"]})
    it["pattern"] = _pick(rng, r.get("pattern", PATTERN_W))
    it["fabric"] = _pick(rng, r.get("fabric", {"cotton": 6, "knit": 1, "chiffon": 0.5,
                                               "satin": 0.3, "leather": 0.3}))
    if it["fabric"] == "denim":
        it["color"] = _pick(rng, {"blue": 6, "navy": 3, "black": 2, "white": 1})
        if rng.random() < 0.85:
            it["pattern"] = "solid"
    it["leather_kind"] = _pick(rng, {"pu": 5, "genuine": 3, "suede": 2, "patent": 1}) \
        if it["fabric"] == "leather" else "none"
    if it["fabric"] == "leather":
        it["pattern"] = "solid"
        if rng.random() < 0.6:
            it["color"] = _pick(rng, {"black": 5, "brown": 3, "red": 1, "beige": 1})
    it["fit"] = _pick(rng, r.get("fit", _U["fit"]))
    has_upper = t in (1, 3)
    trousers = cat in TROUSER_CATS
    skirt = cat in SKIRT_CATS
    if has_upper:
        sl = _pick(rng, r.get("sleeve_len", _U["sleeve_len"]))
        if cat in ("Dress", "Top", "Romper", "Jumpsuit") and rng.random() < 0.3:
            sl = "sleeveless"
        it["sleeve_len"] = sl
        shape_p = r.get("shape_p", 0.12)
        if sl == "sleeveless":
            it["sleeve_shape"] = "none"
        elif "sleeve_shape" in r:
            it["sleeve_shape"] = _pick(rng, r["sleeve_shape"])
        elif rng.random() < shape_p:
            it["sleeve_shape"] = _pick(rng, {"puff": 2, "bell": 2, "bat": 1})
        else:
            it["sleeve_shape"] = "regular"
        it["collar"] = _pick(rng, r.get("collar", {"none": 6, "pointed": 1, "mandarin": 0.5}))
        nk = r.get("neckline", _U["neckline"])
        if it["collar"] in ("lapel",):
            nk = {"v": 1}
        elif it["collar"] in ("turtle", "mandarin", "pointed"):
            nk = {"crew": 1}
        elif it["collar"] == "hood":
            nk = {"v": 1, "crew": 1}
        it["neckline"] = _pick(rng, nk)
        it["upper_len"] = _pick(rng, r.get("upper_len", _U["upper_len"]))
        it["fastening"] = _pick(rng, r.get("fastening", {"none": 6, "buttons": 1, "zip": 0.4}))
    else:
        for k in ("sleeve_len", "sleeve_shape", "collar", "neckline", "upper_len"):
            it[k] = "none"
        it["fastening"] = _pick(rng, {"none": 4, "buttons": 1, "zip": 1})
    if trousers:
        it["trouser_len"] = _pick(rng, r.get("trouser_len", {"short": 1, "full": 2}))
    else:
        it["trouser_len"] = "none"
    if skirt:
        it["skirt_len"] = _pick(rng, r.get("skirt_len", {"mini": 1, "knee": 2, "midi": 1,
                                                         "maxi": 1}))
        it["skirt_shape"] = _pick(rng, r.get("skirt_shape", {"a-line": 3, "pencil": 1,
                                                             "flared": 1, "pleated": 1}))
    else:
        it["skirt_len"] = it["skirt_shape"] = "none"
    # waist
    if "waist" in r:
        it["waist"] = _pick(rng, r["waist"])
    elif rng.random() < r.get("belt", 0.025 if t != 1 else 0.01):
        it["waist"] = "belt"
    elif t == 2 and rng.random() < 0.08:
        it["waist"] = _pick(rng, {"high": 2, "elastic": 1})
    else:
        it["waist"] = "none"
    it["pocket"] = _pick(rng, r.get("pocket", {"none": 5, "patch": 1} if t != 2
                                    else {"none": 2, "side": 2, "patch": 1}))
    # craft
    if "craft" in r:
        it["craft"] = _pick(rng, r["craft"])
    elif it["pattern"] in ("floral", "graphic", "animal") and rng.random() < 0.8:
        it["craft"] = "print"
    elif it["skirt_shape"] == "pleated":
        it["craft"] = "pleat"
    elif it["fabric"] == "denim" and rng.random() < 0.3:
        it["craft"] = "washed"
    elif cat in ("Blouse", "Dress", "Kaftan", "Top", "Shirtdress") and rng.random() < 0.15:
        it["craft"] = "embroidery"
    else:
        it["craft"] = "none"
    # thickness / dense (fleece lining) / wool / fringe / sport
    th = 1 + (rng.random() < r.get("thick", 0.1)) - (rng.random() < r.get("thin", 0.25))
    if it["fabric"] in ("chiffon", "lace"):
        th = 0
    it["thickness"] = ["thin", "medium", "thick"][int(th)]
    it["dense"] = bool(rng.random() < r.get("dense", 0.1) and it["thickness"] != "thin")
    it["wool"] = _pick(rng, {"fine": 1, "chunky": 1}) if it["fabric"] == "knit" else "none"
    it["fringe"] = bool(rng.random() < r.get("fringe", 0.025 if it["leather_kind"] != "suede"
                                           else 0.5))
    it["sport"] = _pick(rng, {"running": 2, "yoga": 1, "football": 1}) \
        if (r.get("sport_ok") and rng.random() < 0.008) else "none"
    if it["sport"] != "none":
        it["pattern"] = "solid"
        it["fabric"] = "cotton" if it["fabric"] != "knit" else "knit"
    # latent: gender (also drawn: silhouette taper / shoulder width)
    pw = WOMEN_P.get(cat, 0.6)
    if it["color"] in ("pink", "purple"):
        pw = min(0.99, pw + 0.3)
    if it["sleeve_shape"] in ("puff", "bell") or it["fabric"] in ("lace", "chiffon", "sequin"):
        pw = min(0.99, pw + 0.3)
    it["gender"] = "women" if rng.random() < pw else "men"
    it["season"] = _season(rng, it)
    it["occasion"] = _occasion(rng, it)
    return it


def _season(rng, it):
    warm = 0.0
    warm += {"sleeveless": 2, "short": 1, "elbow": 0.3, "long": -1, "none": 0}[it["sleeve_len"]]
    warm += {"short": 2, "knee": 1, "cropped": 0.5, "full": -0.5, "none": 0}[it["trouser_len"]]
    warm += {"mini": 1.5, "knee": 0.5, "midi": 0, "maxi": -0.3, "none": 0}[it["skirt_len"]]
    warm += {"thin": 1.0, "medium": 0, "thick": -2.0}[it["thickness"]]
    warm -= 1.5 * it["dense"] + (it["wool"] != "none")
    warm += rng.normal(0, 0.7)
    if warm > 1.5:
        return "summer"
    if warm < -1.5:
        return "winter"
    return "spring" if rng.random() < 0.5 else "autumn"


def _occasion(rng, it):
    c = it["category"]
    if it["sport"] != "none":
        return "sport"
    if c in ("Onesie", "Robe") or (c in ("Sweatpants",) and rng.random() < 0.5):
        return "home"
    if c in ("Blazer", "Button-Down", "Shirtdress", "Chinos", "Peacoat") or \
            it["skirt_shape"] == "pencil":
        return "office" if rng.random() < 0.8 else "daily"
    if it["fabric"] in ("sequin", "satin") or (it["fabric"] == "leather" and c == "Skirt"):
        return "party" if rng.random() < 0.8 else "daily"
    return "daily" if rng.random() < 0.93 else _pick(rng, {"office": 1, "party": 1})


def crowd_of(rng, it, styles):
    """Target crowd (latent) from styles, colours and gender, with noise."""
    if rng.random() < 0.1:
        return _pick(rng, {"youth": 1, "young women": 1, "young men": 1, "middle-aged": 1})
    if "Girl" in styles or "Punk" in styles or it["pattern"] == "graphic":
        return "youth"
    if it["color"] in ("navy", "brown", "grey", "khaki") and it["fit"] != "slim" and \
            it["upper_len"] in ("regular", "long", "none"):
        return "middle-aged"
    return "young women" if it["gender"] == "women" else "young men"
