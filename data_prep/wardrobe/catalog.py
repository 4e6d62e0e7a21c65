"""Static vocabulary of the synthetic wardrobe: categories, hierarchies, drawn attribute slots,
paper 000's 24 groups, paper 003's 13 styles, Shopping100k-style groups, DeepFashion attributes.

Everything here is data; sampling lives in ``attributes.py`` / ``styles.py``, drawing in ``render.py``.
"""

# --------------------------------------------------------------------------------------------
# Categories (DeepFashion names; clothes type 1 upper, 2 lower, 3 full) + paper 002 hierarchies.
# Order = list_category_cloth.txt order (grouped by type, alphabetical, like DeepFashion); the
# 1-based category label is the position in this list.
# fields: name, type, frequency weight, parent5, parent10
CATEGORIES = [
    ("Anorak", 1, 1.0, "outerwear", "jackets"),
    ("Blazer", 1, 3.0, "outerwear", "jackets"),
    ("Blouse", 1, 9.0, "tops", "shirts-blouses"),
    ("Bomber", 1, 1.0, "outerwear", "jackets"),
    ("Button-Down", 1, 2.0, "tops", "shirts-blouses"),
    ("Cardigan", 1, 5.0, "outerwear", "jackets"),
    ("Flannel", 1, 1.0, "tops", "shirts-blouses"),
    ("Halter", 1, 0.6, "tops", "tees-tanks"),
    ("Henley", 1, 0.8, "tops", "tees-tanks"),
    ("Hoodie", 1, 2.0, "outerwear", "jackets"),
    ("Jacket", 1, 4.0, "outerwear", "jackets"),
    ("Parka", 1, 1.0, "outerwear", "coats"),
    ("Peacoat", 1, 0.6, "outerwear", "coats"),
    ("Poncho", 1, 0.6, "outerwear", "coats"),
    ("Sweater", 1, 5.0, "tops", "knitwear"),
    ("Tank", 1, 6.0, "tops", "tees-tanks"),
    ("Tee", 1, 12.0, "tops", "tees-tanks"),
    ("Top", 1, 4.0, "tops", "tees-tanks"),
    ("Turtleneck", 1, 0.8, "tops", "knitwear"),
    ("Capris", 2, 0.5, "bottoms", "trousers"),
    ("Chinos", 2, 1.0, "bottoms", "trousers"),
    ("Culottes", 2, 0.8, "bottoms", "shorts"),
    ("Cutoffs", 2, 1.2, "bottoms", "shorts"),
    ("Jeans", 2, 5.0, "bottoms", "trousers"),
    ("Joggers", 2, 3.0, "bottoms", "trousers"),
    ("Leggings", 2, 2.0, "bottoms", "trousers"),
    ("Sarong", 2, 0.4, "bottoms", "skirts"),
    ("Shorts", 2, 6.0, "bottoms", "shorts"),
    ("Skirt", 2, 5.0, "bottoms", "skirts"),
    ("Sweatpants", 2, 1.0, "bottoms", "trousers"),
    ("Sweatshorts", 2, 0.8, "bottoms", "shorts"),
    ("Cheongsam", 3, 0.12, "dresses", "dresses"),
    ("Coat", 3, 2.0, "outerwear", "coats"),
    ("Dress", 3, 16.0, "dresses", "dresses"),
    ("Jumpsuit", 3, 2.0, "one-pieces", "jumpsuits-robes"),
    ("Kaftan", 3, 0.5, "dresses", "dresses"),
    ("Kimono", 3, 1.0, "one-pieces", "jumpsuits-robes"),
    ("Onesie", 3, 0.4, "one-pieces", "jumpsuits-robes"),
    ("Robe", 3, 0.5, "one-pieces", "jumpsuits-robes"),
    ("Romper", 3, 3.0, "one-pieces", "jumpsuits-robes"),
    ("Shirtdress", 3, 1.0, "dresses", "dresses"),
    ("Sundress", 3, 1.5, "dresses", "dresses"),
]
CAT_NAMES = [c[0] for c in CATEGORIES]
CAT_TYPE = {c[0]: c[1] for c in CATEGORIES}
PARENTS5 = ["tops", "outerwear", "bottoms", "dresses", "one-pieces"]
PARENTS10 = ["shirts-blouses", "tees-tanks", "knitwear", "jackets", "coats",
             "trousers", "shorts", "skirts", "dresses", "jumpsuits-robes"]
# categories drawn with legs (trousers) rather than a skirt
TROUSER_CATS = {"Capris", "Chinos", "Culottes", "Cutoffs", "Jeans", "Joggers", "Leggings",
                "Shorts", "Sweatpants", "Sweatshorts", "Jumpsuit", "Romper", "Onesie"}
SKIRT_CATS = {"Skirt", "Sarong", "Dress", "Sundress", "Shirtdress", "Cheongsam", "Kaftan"}
# categories that carry a guaranteed minimum number of items whatever the size (rare classes)
RARE_FLOOR = {"Cheongsam": 3}
# categories where a (rare) sport variant exists -> the Sports style
RULES_SPORT_CATS = {"Hoodie", "Tank", "Tee", "Joggers", "Leggings", "Sweatpants", "Sweatshorts"}

# --------------------------------------------------------------------------------------------
# Colours (BGR) -- the "Color" group.
COLORS = {
    "black": (30, 30, 30), "white": (235, 235, 235), "grey": (140, 140, 140),
    "red": (40, 40, 200), "pink": (190, 160, 245), "orange": (30, 140, 245),
    "yellow": (50, 220, 240), "green": (60, 150, 40), "blue": (210, 120, 40),
    "navy": (100, 40, 20), "purple": (140, 50, 120), "brown": (30, 70, 120),
    "beige": (170, 205, 225), "khaki": (110, 160, 170),
}
COLOR_NAMES = list(COLORS)
COLOR_WEIGHTS = [10, 8, 6, 5, 4, 2, 2, 3, 6, 5, 2, 3, 4, 3]

# --------------------------------------------------------------------------------------------
# Drawn attribute slots and their values.
SLOTS = {
    "pattern": ["solid", "stripe", "dot", "plaid", "floral", "graphic", "animal"],
    "fabric": ["cotton", "denim", "knit", "leather", "chiffon", "lace", "satin", "sequin"],
    "leather_kind": ["pu", "genuine", "suede", "patent"],
    "fit": ["slim", "regular", "loose"],
    "sleeve_len": ["sleeveless", "short", "elbow", "long"],
    "sleeve_shape": ["regular", "puff", "bell", "bat"],
    "neckline": ["crew", "v", "square", "scoop", "boat"],
    "collar": ["none", "pointed", "mandarin", "lapel", "hood", "turtle"],
    "upper_len": ["cropped", "regular", "long"],
    "trouser_len": ["short", "knee", "cropped", "full"],
    "skirt_len": ["mini", "knee", "midi", "maxi"],
    "skirt_shape": ["a-line", "pencil", "flared", "pleated", "wrap"],
    "fastening": ["none", "buttons", "zip"],
    "waist": ["none", "belt", "elastic", "drawstring", "high"],
    "pocket": ["none", "patch", "kangaroo", "flap", "side"],
    "craft": ["none", "print", "embroidery", "pleat", "ripped", "washed"],
    "thickness": ["thin", "medium", "thick"],
    "wool": ["none", "fine", "chunky"],
    "sport": ["none", "running", "yoga", "football"],
    "fringe": [False, True],
    "dense": [False, True],
    "gender": ["women", "men"],
    "season": ["spring", "summer", "autumn", "winter"],
    "occasion": ["daily", "office", "party", "sport", "home"],
    "crowd": ["youth", "young women", "young men", "middle-aged"],
}

# --------------------------------------------------------------------------------------------
# Paper 000 (e-Clothing1.4M), Table II: the 24 groups in their order with their proportion.
GROUPS = [
    ("Color", 1.0000), ("Gender", 0.9646), ("Season", 0.8242), ("Style", 0.7773),
    ("Coat", 0.6838), ("Version", 0.6062), ("Pantsuit", 0.6018), ("Length of Sleeve", 0.4201),
    ("Occasion", 0.3876), ("Craft", 0.3119), ("Collar", 0.2436), ("Length of Trousers", 0.2292),
    ("Thickness", 0.1961), ("Length of Skirts", 0.1866), ("Skirt", 0.1766), ("Crowd", 0.1456),
    ("Dense", 0.1331), ("Leather", 0.0643), ("Cardigan", 0.0626), ("Waist", 0.0471),
    ("Feather", 0.0428), ("Sleeve", 0.0064), ("Cheongsam", 0.0006), ("Wool Thickness", 0.0002),
]
GROUP_NAMES = [g for g, _ in GROUPS]
GROUP_PROP = dict(GROUPS)

# keyword catalogue: group -> {keyword: description}; keywords are unique over all groups.
KEYWORDS = {
    "Color": [c for c in COLOR_NAMES],
    "Gender": ["womens", "mens"],
    "Season": ["spring", "summer", "autumn", "winter"],
    "Style": ["sporty", "casual", "commuter", "japanese style", "korean style", "western style",
              "british style", "sweet girl", "elegant lady", "minimalist", "natural", "punk",
              "ethnic"],
    "Coat": [f"{c.lower()}" for c in CAT_NAMES if CAT_TYPE[c] == 1 and c != "Cardigan"]
            + ["coat"],
    "Version": ["slim fit", "regular fit", "loose fit"],
    "Pantsuit": [f"{c.lower()}" for c in sorted(TROUSER_CATS)],
    "Length of Sleeve": ["sleeveless", "short sleeve", "elbow sleeve", "long sleeve"],
    "Occasion": ["daily wear", "office wear", "party wear", "sportswear", "homewear"],
    "Craft": ["printed", "embroidered", "pleated craft", "ripped", "washed"],
    "Collar": ["crew neck", "v-neck", "square neck", "scoop neck", "boat neck", "pointed collar",
               "mandarin collar", "lapel collar", "hooded", "turtle collar"],
    "Length of Trousers": ["short trousers", "knee-length trousers", "cropped trousers",
                           "full-length trousers"],
    "Thickness": ["thin", "medium thickness", "thick"],
    "Length of Skirts": ["mini skirt", "knee-length skirt", "midi skirt", "maxi skirt"],
    "Skirt": ["a-line skirt", "pencil skirt", "flared skirt", "pleated skirt", "wrap skirt"],
    "Crowd": ["youth", "young women", "young men", "middle-aged"],
    "Dense": ["fleece-lined"],
    "Leather": ["pu leather", "genuine leather", "suede", "patent leather"],
    "Cardigan": ["cropped cardigan", "regular cardigan", "long cardigan"],
    "Waist": ["belted", "elastic waist", "drawstring waist", "high waist"],
    "Feather": ["fringe"],
    "Sleeve": ["regular sleeve", "puff sleeve", "bell sleeve", "batwing sleeve"],
    "Cheongsam": ["short cheongsam", "long cheongsam"],
    "Wool Thickness": ["fine wool", "chunky wool"],
}

# --------------------------------------------------------------------------------------------
# Paper 003 (JD AI Fashion Challenge), Table I order.
STYLES = ["Sports", "Casual", "Office lady", "Japanese", "Korean", "Western", "British", "Girl",
          "Lady", "Minimalist", "Natural", "Punk", "Ethnic"]
EXCLUSIVE_STYLES = ["Japanese", "Korean", "Western", "British"]  # classes 4-7 never co-occur

# --------------------------------------------------------------------------------------------
# Paper 004 (Shopping100k): the attribute groups (CSV columns, in order) and which are "special" (the
# attributes the paper manipulates and attaches parts to: its Table 2 and Section 6 -- pattern, collar,
# fastening, sleeve length, colour); the others are general.
SHOP_COLUMNS = ["category", "gender", "fabric", "fit", "length", "sport", "color", "pattern", "collar",
                "neckline", "fastening", "sleeve_length", "pocket"]
SHOP_SPECIAL = ["color", "pattern", "collar", "fastening", "sleeve_length"]
SHOP_GENERAL = [c for c in SHOP_COLUMNS if c not in SHOP_SPECIAL]

# --------------------------------------------------------------------------------------------
# DeepFashion attributes: (name, type, slot, value) with type 1 texture, 2 fabric, 3 shape,
# 4 part, 5 style.  slot/value say which drawn (or latent) attribute makes it positive.
BASE_ATTRS = (
    [(c, 1, "color", c) for c in COLOR_NAMES]
    + [("striped", 1, "pattern", "stripe"), ("dotted", 1, "pattern", "dot"),
       ("plaid", 1, "pattern", "plaid"), ("floral", 1, "pattern", "floral"),
       ("graphic", 1, "pattern", "graphic"), ("leopard print", 1, "pattern", "animal"),
       ("solid", 1, "pattern", "solid"),
       ("cotton", 2, "fabric", "cotton"), ("denim", 2, "fabric", "denim"),
       ("knit", 2, "fabric", "knit"), ("leather", 2, "fabric", "leather"),
       ("chiffon", 2, "fabric", "chiffon"), ("lace", 2, "fabric", "lace"),
       ("satin", 2, "fabric", "satin"), ("sequin", 2, "fabric", "sequin"),
       ("faux leather", 2, "leather_kind", "pu"), ("suede", 2, "leather_kind", "suede"),
       ("patent", 2, "leather_kind", "patent"), ("fleece", 2, "dense", True),
       ("chunky knit", 2, "wool", "chunky"), ("fine knit", 2, "wool", "fine"),
       ("slim", 3, "fit", "slim"), ("loose", 3, "fit", "loose"),
       ("a-line", 3, "skirt_shape", "a-line"), ("pencil", 3, "skirt_shape", "pencil"),
       ("flared", 3, "skirt_shape", "flared"), ("pleated", 3, "skirt_shape", "pleated"),
       ("wrap", 3, "skirt_shape", "wrap"), ("mini", 3, "skirt_len", "mini"),
       ("midi", 3, "skirt_len", "midi"), ("maxi", 3, "skirt_len", "maxi"),
       ("cropped", 3, "upper_len", "cropped"), ("longline", 3, "upper_len", "long"),
       ("high-waist", 3, "waist", "high"), ("short", 3, "trouser_len", "short"),
       ("capri", 3, "trouser_len", "cropped"), ("full length", 3, "trouser_len", "full"),
       ("sleeveless", 4, "sleeve_len", "sleeveless"), ("short sleeve", 4, "sleeve_len", "short"),
       ("elbow sleeve", 4, "sleeve_len", "elbow"), ("long sleeve", 4, "sleeve_len", "long"),
       ("puff sleeve", 4, "sleeve_shape", "puff"), ("bell sleeve", 4, "sleeve_shape", "bell"),
       ("batwing", 4, "sleeve_shape", "bat"), ("crew neck", 4, "neckline", "crew"),
       ("v-neck", 4, "neckline", "v"), ("square neck", 4, "neckline", "square"),
       ("scoop neck", 4, "neckline", "scoop"), ("boat neck", 4, "neckline", "boat"),
       ("collar", 4, "collar", "pointed"), ("mandarin collar", 4, "collar", "mandarin"),
       ("lapel", 4, "collar", "lapel"), ("hooded", 4, "collar", "hood"),
       ("turtleneck", 4, "collar", "turtle"), ("button", 4, "fastening", "buttons"),
       ("zip", 4, "fastening", "zip"), ("patch pocket", 4, "pocket", "patch"),
       ("kangaroo pocket", 4, "pocket", "kangaroo"), ("flap pocket", 4, "pocket", "flap"),
       ("side pocket", 4, "pocket", "side"), ("belted", 4, "waist", "belt"),
       ("elastic", 4, "waist", "elastic"), ("drawstring", 4, "waist", "drawstring"),
       ("fringe", 4, "fringe", True), ("embroidered", 4, "craft", "embroidery"),
       ("ripped", 4, "craft", "ripped"), ("washed", 4, "craft", "washed"),
       ("printed", 4, "craft", "print")]
    + [(s, 5, "style", s) for s in ["sporty", "casual", "office", "japanese", "korean", "western",
                                     "british", "girly", "ladylike", "minimalist", "natural",
                                     "punk", "ethnic"]]
    + [("summer", 5, "season", "summer"), ("winter", 5, "season", "winter"),
       ("party", 5, "occasion", "party"), ("homewear", 5, "occasion", "home")]
)
STYLE_ATTR = dict(zip(["sporty", "casual", "office", "japanese", "korean", "western", "british",
                       "girly", "ladylike", "minimalist", "natural", "punk", "ethnic"], STYLES))
# number of DeepFashion attributes per size (base attributes + frequent pairwise compounds)
N_ATTRS = {"tiny": len(BASE_ATTRS), "small": 300, "full": 1000}
ATTR_TYPE_NAMES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
