"""Orchestration: plan -> labels -> parallel rendering -> dataset files, README, contact sheet."""
import json
import multiprocessing as mp
import os
import shutil

import cv2
import numpy as np

from . import labels as L
from . import shopping
from .catalog import (ATTR_TYPE_NAMES, BASE_ATTRS, CAT_NAMES, CAT_TYPE, CATEGORIES, GROUP_NAMES,
                      GROUP_PROP, KEYWORDS, N_ATTRS, PARENTS5, PARENTS10, STYLES)
from .plan import POSE_NAMES, SIZES, make_items, make_shots, render_spec, split_items
from .render import render_shot
from .styles import jd_partition, sample_jd_styles
from .writers import (attr_values, landmark_cols, landmark_header, write_df_list, write_lines,
                      fmt3)

ADJ = {"stripe": "Striped", "dot": "Dotted", "plaid": "Plaid", "floral": "Floral",
       "graphic": "Graphic", "animal": "Leopard"}
C2S_TOP = {1: "TOPS", 2: "TROUSERS", 3: "DRESSES"}
DEFAULT_RATES = dict(wrong_label_rate=0.05, missing_rate=0.1)
# The JD labels and the JD split come from their own RNG stream, seeded (seed, JD_STREAM): drawing or
# recalibrating them never moves the plan RNG, so every other dataset's files stay byte-identical.
JD_STREAM = 3


def _folder(it):
    if it["pattern"] != "solid":
        adj = ADJ[it["pattern"]]
    elif it["fabric"] != "cotton":
        adj = it["fabric"].title()
    else:
        adj = it["color"].title()
    return f"{adj}_{it['category']}"


def _render_job(spec):
    if spec["kind"] == "shopping":  # paper 004's subset: also the true part boxes
        img, lms, bbox, parts = render_shot(spec, parts=True)
    else:
        (img, lms, bbox), parts = render_shot(spec), None
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, spec["quality"]])
    return buf.tobytes(), lms, bbox, parts


def _put(out, rels, data):
    first = os.path.join(out, rels[0])
    os.makedirs(os.path.dirname(first), exist_ok=True)
    with open(first, "wb") as f:
        f.write(data)
    for r in rels[1:]:
        p = os.path.join(out, r)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if os.path.exists(p):
            os.remove(p)
        try:
            os.link(first, p)  # same bytes, no extra disk
        except OSError:
            shutil.copyfile(first, p)


def generate(out_dir, size="tiny", seed=0, wrong_label_rate=0.05, missing_rate=0.1,
             image_size=None, workers=None, progress=True):
    """Generate the synthetic wardrobe under ``out_dir``; returns a dict of the main paths."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}")
    cfg = SIZES[size]
    S = int(image_size or cfg["image_size"])
    out = os.path.abspath(out_dir)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = make_items(rng, cfg["items"])
    shots = make_shots(rng, items, S)
    n_items = len(items)
    by_item = [[] for _ in items]
    for s in shots:
        by_item[s["item"]].append(s)

    # ---------------------------------------------------------------- splits (by item)
    df_split = split_items(rng, n_items, [70, 15, 15], ["train", "val", "test"])
    inshop_split = split_items(rng, n_items, [50, 50], ["train", "test"])
    c2s_split = split_items(rng, n_items, [50, 25, 25], ["train", "val", "test"])
    ecl_split = split_items(rng, n_items, [73, 27], ["train", "test"])
    shp_split = split_items(rng, n_items, [80, 20], ["train", "test"])
    rng.permutation(n_items)  # the JD folds of old, still drawn: the plan RNG's later draws keep their values
    jd_rng = np.random.default_rng([seed, JD_STREAM])
    for x in items:
        x["jd_styles"] = sample_jd_styles(jd_rng, x["attrs"])
    jd_fold = jd_partition(jd_rng, np.stack([x["jd_styles"] for x in items]))

    # ---------------------------------------------------------------- paths per shot
    paths = {s["index"]: [] for s in shots}
    DF, IS, CS = "DeepFashion/Category_and_Attribute", "DeepFashion/In-shop", \
        "DeepFashion/Consumer-to-shop"
    df_rows, is_rows, cs_shop, cs_cons, jd_rows, ecl_rows, shp_rows = [], [], {}, {}, [], [], []
    folder_count = {}
    for x in items:
        it = x["attrs"]
        i = x["id"]
        fold = _folder(it)
        gender_dir = "WOMEN" if it["gender"] == "women" else "MEN"
        n_shop = n_cons = 0
        for s in by_item[i]:
            k = s["index"]
            if s["kind"] in ("shop", "consumer"):
                folder_count[fold] = folder_count.get(fold, 0) + 1
                rel = f"img/{fold}/img_{folder_count[fold]:08d}.jpg"
                paths[k].append(f"{DF}/{rel}")
                df_rows.append((k, rel))
                jid = f"jd{k:08d}"
                paths[k].append(f"JD/images/{jid}.jpg")
                jd_rows.append((k, jid))
            if s["kind"] == "shop":
                n_shop += 1
                rel = (f"img/{gender_dir}/{it['category']}/id_{i + 1:08d}/"
                       f"{n_shop:02d}_{s['pose_type']}_{POSE_NAMES[s['pose_type']]}.jpg")
                paths[k].append(f"{IS}/{rel}")
                is_rows.append((k, rel))
                rel = f"img/{C2S_TOP[it['type']]}/{it['category']}/id_{i + 1:08d}/shop_{n_shop:02d}.jpg"
                cs_shop.setdefault(i, []).append((k, rel))
                rel = f"images/{i + 1:06d}_{n_shop}.jpg"
                paths[k].append(f"eClothing/{rel}")
                ecl_rows.append((k, rel))
            elif s["kind"] == "consumer":
                n_cons += 1
                rel = (f"img/{C2S_TOP[it['type']]}/{it['category']}/id_{i + 1:08d}/"
                       f"consumer_{n_cons:02d}.jpg")
                paths[k].append(f"{CS}/{rel}")
                cs_cons.setdefault(i, []).append((k, rel))
            else:
                rel = f"images/{i + 1:06d}.jpg"
                paths[k].append(f"Shopping100k/{rel}")
                shp_rows.append((k, rel))
    for i, lst in cs_shop.items():
        if i in cs_cons:
            for k, rel in lst:
                paths[k].append(f"{CS}/{rel}")

    # ---------------------------------------------------------------- labels (plan RNG)
    shot_of = {s["index"]: s for s in shots}
    clean_base = np.stack([L.base_attr_vector(x) for x in items])
    pairs = L.compound_attrs(clean_base, N_ATTRS[size])
    attr_names = [(a[0], a[1]) for a in BASE_ATTRS] + \
        [(f"{BASE_ATTRS[a][0]} {BASE_ATTRS[b][0]}", BASE_ATTRS[a][1]) for a, b in pairs]
    df_attr = {k: L.with_compounds(L.noisy_attrs(rng, clean_base[shot_of[k]["item"]], missing_rate,
                                                 wrong_label_rate), pairs) for k, _ in df_rows}
    item_attr = {x["id"]: L.with_compounds(L.noisy_attrs(rng, clean_base[x["id"]], 0.0,
                                                         wrong_label_rate), pairs) for x in items}
    ecl_truth = [L.eclothing_truth(items[shot_of[k]["item"]],
                                   items[shot_of[k]["item"]]["companion"]
                                   if shot_of[k]["comp"] else None) for k, _ in ecl_rows]
    ecl_obs, ecl_prob = L.eclothing_labels(rng, ecl_truth, missing_rate, wrong_label_rate)
    ratio_cp = L.ratio_subset(rng, ecl_truth, "Coat", "Pantsuit", wrong_label_rate)
    ratio_ss = L.ratio_subset(rng, ecl_truth, "Length of Sleeve", "Sleeve", wrong_label_rate)
    shopping.repeat_legacy_draws(rng, [items[shot_of[k]["item"]] for k, _ in shp_rows], missing_rate,
                                 wrong_label_rate)
    shp_rows_all, shp_specs = shopping.plan_subset(
        seed, [(r, items[shot_of[k]["item"]], shp_split[shot_of[k]["item"]]) for k, r in shp_rows],
        missing_rate, wrong_label_rate, len(shots), S)
    shp_name = {k: r for k, r in shp_rows}

    # ---------------------------------------------------------------- render
    specs = [render_spec(s, items) for s in shots] + shp_specs
    dest = [paths[s["index"]] for s in shots] + \
        [[f"Shopping100k/{r['name']}"] for r in shp_rows_all[len(shp_rows):]]
    shp_parts = {}
    results = {}
    workers = workers or os.cpu_count() or 1
    it_ = None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    if workers > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        pool = ctx.Pool(workers)
        it_ = pool.imap(_render_job, specs, chunksize=8)
    else:
        pool = None
        it_ = map(_render_job, specs)
    if progress and tqdm is not None:
        it_ = tqdm(it_, total=len(specs), desc=f"wardrobe[{size}]", unit="img")
    try:
        for spec, rels, (data, lms, bbox, parts) in zip(specs, dest, it_):
            _put(out, rels, data)
            results[spec["index"]] = (lms, bbox)
            if parts is not None:
                shp_parts[shp_name.get(spec["index"]) or rels[0][len("Shopping100k/"):]] = parts
    finally:
        if pool is not None:
            pool.close()
            pool.join()

    # ---------------------------------------------------------------- DeepFashion: category
    cat_label = {c: i + 1 for i, c in enumerate(CAT_NAMES)}
    d = os.path.join(out, DF)
    write_df_list(f"{d}/Anno/list_category_cloth.txt", "category_name  category_type",
                  [(c, CAT_TYPE[c]) for c in CAT_NAMES], first_width=29)
    write_df_list(f"{d}/Anno/list_category_hierarchy.txt",
                  "category_name  category_label  parent5_label  parent5_name  parent10_label  "
                  "parent10_name",
                  [(c[0], cat_label[c[0]], PARENTS5.index(c[3]) + 1, c[3],
                    PARENTS10.index(c[4]) + 1, c[4]) for c in CATEGORIES], first_width=29)
    write_df_list(f"{d}/Anno/list_attr_cloth.txt", "attribute_name  attribute_type",
                  attr_names, first_width=max(31, max(len(a) for a, _ in attr_names) + 3))

    def cat_of(k):
        return items[shot_of[k]["item"]]["attrs"]["category"]

    write_df_list(f"{d}/Anno/list_category_img.txt", "image_name  category_label",
                  [(r, cat_label[cat_of(k)]) for k, r in df_rows])
    write_df_list(f"{d}/Anno/list_attr_img.txt", "image_name  attribute_labels",
                  [(r, attr_values(df_attr[k])) for k, r in df_rows])
    write_df_list(f"{d}/Anno/list_bbox.txt", "image_name  x_1  y_1  x_2  y_2",
                  [(r, *map(fmt3, results[k][1])) for k, r in df_rows])
    write_df_list(f"{d}/Anno/list_landmarks.txt", landmark_header(8, variation=False),
                  [(r, CAT_TYPE[cat_of(k)], landmark_cols(results[k][0])) for k, r in df_rows])
    write_df_list(f"{d}/Eval/list_eval_partition.txt", "image_name  evaluation_status",
                  [(r, df_split[shot_of[k]["item"]]) for k, r in df_rows])

    # ---------------------------------------------------------------- DeepFashion: in-shop
    d = os.path.join(out, IS)
    status = {}
    per_item = {}
    for k, r in is_rows:
        per_item.setdefault(shot_of[k]["item"], []).append(k)
    for i, ks in per_item.items():
        if inshop_split[i] == "train":
            for k in ks:
                status[k] = "train"
        else:
            order = [ks[j] for j in rng.permutation(len(ks))]
            nq = max(1, len(ks) // 2)
            for j, k in enumerate(order):
                status[k] = "query" if j < nq else "gallery"
    iid = lambda k: f"id_{shot_of[k]['item'] + 1:08d}"  # noqa: E731
    write_df_list(f"{d}/Eval/list_eval_partition.txt", "image_name  item_id  evaluation_status",
                  [(r, iid(k), status[k]) for k, r in is_rows])
    write_df_list(f"{d}/Anno/list_bbox_inshop.txt",
                  "image_name  clothes_type  pose_type  x_1  y_1  x_2  y_2",
                  [(r, CAT_TYPE[cat_of(k)], shot_of[k]["pose_type"], *map(fmt3, results[k][1]))
                   for k, r in is_rows])
    write_df_list(f"{d}/Anno/list_landmarks_inshop.txt", landmark_header(8, variation=True),
                  [(r, CAT_TYPE[cat_of(k)], shot_of[k]["variation_type"],
                    landmark_cols(results[k][0])) for k, r in is_rows])
    is_items = sorted(per_item)
    write_lines(f"{d}/Anno/list_item_inshop.txt",
                [str(len(is_items))] + [f"id_{i + 1:08d}" for i in is_items])
    write_df_list(f"{d}/Anno/list_attr_cloth.txt", "attribute_name  attribute_type",
                  attr_names, first_width=max(31, max(len(a) for a, _ in attr_names) + 3))
    write_df_list(f"{d}/Anno/list_attr_items.txt", "item_id  attribute_labels",
                  [(f"id_{i + 1:08d}", attr_values(item_attr[i])) for i in is_items])

    # ---------------------------------------------------------------- DeepFashion: consumer2shop
    d = os.path.join(out, CS)
    pair_rows, bb_rows, lm_rows = [], [], []
    for i in sorted(cs_cons):
        shop = cs_shop[i]
        for k, r in shop:
            bb_rows.append((r, CAT_TYPE[cat_of(k)], 1, *map(fmt3, results[k][1])))
            lm_rows.append((r, CAT_TYPE[cat_of(k)], shot_of[k]["variation_type"],
                            landmark_cols(results[k][0])))
        for kc, rc in cs_cons[i]:
            bb_rows.append((rc, CAT_TYPE[cat_of(kc)], 2, *map(fmt3, results[kc][1])))
            lm_rows.append((rc, CAT_TYPE[cat_of(kc)], shot_of[kc]["variation_type"],
                            landmark_cols(results[kc][0])))
            for k, r in shop:
                pair_rows.append((rc, r, f"id_{i + 1:08d}", c2s_split[i]))
    write_df_list(f"{d}/Eval/list_eval_partition.txt",
                  "image_pair_name_1  image_pair_name_2  item_id  evaluation_status", pair_rows)
    write_df_list(f"{d}/Anno/list_bbox_consumer2shop.txt",
                  "image_name  clothes_type  source_type  x_1  y_1  x_2  y_2", bb_rows)
    write_df_list(f"{d}/Anno/list_landmarks_consumer2shop.txt", landmark_header(8, True), lm_rows)
    write_lines(f"{d}/Anno/list_item_consumer2shop.txt",
                [str(len(cs_cons))] + [f"id_{i + 1:08d}" for i in sorted(cs_cons)])

    # ---------------------------------------------------------------- JD styles
    jd_lines, fold_lines, test_lines = [], [], []
    for k, jid in jd_rows:
        i = shot_of[k]["item"]
        row = f"{jid},file:images/{jid}.jpg," + ",".join(str(int(v)) for v in items[i]["jd_styles"])
        if jd_fold[i] < 0:
            test_lines.append(row)
            continue
        jd_lines.append(row)
        fold_lines.append(f"{int(jd_fold[i])},images/{jid}.jpg")
    write_lines(f"{out}/JD/train.txt", jd_lines)
    write_lines(f"{out}/JD/folds.txt", fold_lines)
    write_lines(f"{out}/JD/test.txt", test_lines)
    write_lines(f"{out}/JD/styles.txt", [f"{i + 1},{s}" for i, s in enumerate(STYLES)])

    # ---------------------------------------------------------------- e-Clothing
    e = f"{out}/eClothing"

    def kwline(r, g2k):
        return r + "\t" + ";".join(g2k[g] for g in GROUP_NAMES if g in g2k)

    write_lines(f"{e}/labels.txt", [kwline(r, ecl_obs[j]) for j, (k, r) in enumerate(ecl_rows)])
    write_lines(f"{e}/partition.txt", [f"{r}\t{ecl_split[shot_of[k]['item']]}"
                                       for k, r in ecl_rows])
    write_lines(f"{e}/keyword_groups.txt", [f"{kw}\t{g}" for g in GROUP_NAMES
                                            for kw in KEYWORDS[g]])
    write_lines(f"{e}/groups.txt", [f"{g}\t{GROUP_PROP[g]:.4f}" for g in GROUP_NAMES])
    write_lines(f"{e}/ratio_coat_pantsuit.txt",
                [kwline(ecl_rows[j][1], ratio_cp[j]) for j in sorted(ratio_cp)])
    write_lines(f"{e}/ratio_sleevelength_sleeve.txt",
                [kwline(ecl_rows[j][1], ratio_ss[j]) for j in sorted(ratio_ss)])

    # ---------------------------------------------------------------- Shopping100k
    shopping.write_subset(out, shp_rows_all, shp_parts)

    # ---------------------------------------------------------------- ground truth (synthetic)
    t = f"{out}/_truth"
    write_lines(f"{t}/eclothing_truth.txt",
                [kwline(r, ecl_truth[j]) for j, (k, r) in enumerate(ecl_rows)])
    with open(f"{t}/items.jsonl", "w") as f:
        for x in items:
            f.write(json.dumps({"id": x["id"], "attrs": x["attrs"], "companion": x["companion"],
                                "styles": [int(v) for v in x["styles"]],
                                "jd_styles": [int(v) for v in x["jd_styles"]],
                                "jd_fold": int(jd_fold[x["id"]])}, sort_keys=True) + "\n")
    with open(f"{t}/shots.jsonl", "w") as f:
        for s in shots:
            f.write(json.dumps(dict(s, paths=paths[s["index"]], landmarks=results[s["index"]][0],
                                    bbox=results[s["index"]][1]), sort_keys=True) + "\n")

    counts = {
        "DeepFashion/Category_and_Attribute": len(df_rows),
        "DeepFashion/In-shop": len(is_rows),
        "DeepFashion/Consumer-to-shop": sum(len(v) for v in cs_cons.values()) +
        sum(len(cs_shop[i]) for i in cs_cons),
        "DeepFashion/Consumer-to-shop pairs": len(pair_rows),
        "JD": len(jd_lines), "JD test": len(test_lines), "eClothing": len(ecl_rows),
        "Shopping100k": len(shp_rows_all),
        "unique images": len(specs), "items": n_items,
    }
    sheet = contact_sheet(out, items, shots, results, paths, S)
    # README.md last: its presence marks a complete wardrobe (see ensure)
    _write_readme(out, size, seed, S, wrong_label_rate, missing_rate, counts, len(attr_names),
                  ecl_prob)
    return {
        "root": out, "deepfashion_category": os.path.join(out, DF),
        "deepfashion_inshop": os.path.join(out, IS), "deepfashion_c2s": os.path.join(out, CS),
        "jd": os.path.join(out, "JD"), "eclothing": e, "shopping100k": f"{out}/Shopping100k",
        "readme": f"{out}/README.md", "contact_sheet": sheet, "counts": counts,
    }


def default_dir(size, seed=0):
    """Where the make targets keep the wardrobe of a size and seed (relative to the repository root)."""
    return f"runs/wardrobe/{size}" + ("" if seed == 0 else f"-seed{seed}")


def ensure(out, size, seed=0, workers=None, progress=True):
    """The wardrobe at ``out``: generated there unless a complete one (its README.md, written last) of
    the same size and seed is already there, so the papers' pipelines share one copy."""
    readme = os.path.join(out, "README.md")
    if os.path.isfile(readme):
        text = open(readme).read()
        if f"- size: `{size}`" not in text or f"- seed: `{seed}`" not in text:
            raise SystemExit(f"{readme}: this folder holds a wardrobe of another size or seed (wanted size "
                             f"{size!r}, seed {seed}); remove the folder or point the pipeline elsewhere.")
        return out
    generate(out, size=size, seed=seed, workers=workers, progress=progress)
    return out


def _write_readme(out, size, seed, S, w, m, counts, n_attr, prob):
    lines = [
        "# Synthetic wardrobe (SYNTHETIC DATA - procedurally drawn, not real photographs)", "",
        "Generated by `python -m data_prep.wardrobe` (fashioncaffe).", "",
        f"- size: `{size}`", f"- seed: `{seed}`", f"- image size: {S} x {S} px",
        f"- wrong-label rate: {w}", f"- missing-label rate: {m}",
        f"- DeepFashion attributes: {n_attr} "
        f"({', '.join(ATTR_TYPE_NAMES[k] for k in sorted(ATTR_TYPE_NAMES))})",
        f"- categories: {len(CAT_NAMES)}; styles: {len(STYLES)}; e-Clothing groups: "
        f"{len(GROUP_NAMES)}", "", "## Image counts", "",
    ]
    lines += [f"- {k}: {v}" for k, v in counts.items()]
    lines += ["", "## e-Clothing group annotation probability (applicable images)", ""]
    lines += [f"- {g}: {prob[g]:.4f} (paper proportion {GROUP_PROP[g]})" for g in GROUP_NAMES]
    lines += ["", "Formats: see `data_prep/wardrobe/README.md` in the fashioncaffe repository.",
              "`_truth/` holds the noise-free labels and the full drawing plan (synthetic only)."]
    write_lines(os.path.join(out, "README.md"), lines)


def contact_sheet(out, items, shots, results, paths, S, n=24, cols=6):
    """Grid of samples with landmarks (green visible, orange occluded) and labels printed."""
    pick = [s for s in shots if s["kind"] in ("shop", "consumer")]
    step = max(1, len(pick) // n)
    pick = pick[::step][:n]
    tile = 192
    rows = []
    tiles = []
    for s in pick:
        img = cv2.imread(os.path.join(out, paths[s["index"]][0]))
        img = cv2.resize(img, (tile, tile))
        f = tile / S
        lms, bb = results[s["index"]]
        cv2.rectangle(img, (int(bb[0] * f), int(bb[1] * f)), (int(bb[2] * f), int(bb[3] * f)),
                      (255, 200, 0), 1)
        for j, (v, x, y) in enumerate(lms):
            if v < 2:
                cv2.circle(img, (int(x * f), int(y * f)), 3, (0, 200, 0) if v == 0 else
                           (0, 140, 255), -1)
                cv2.putText(img, str(j + 1), (int(x * f) + 3, int(y * f) - 2),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1)
        it = items[s["item"]]["attrs"]
        txt = [f"{it['category']} ({s['kind']})", f"{it['color']} {it['pattern']} {it['fabric']}",
               f"sl:{it['sleeve_len']} col:{it['collar']}/{it['neckline']}"]
        band = np.full((40, tile, 3), 255, np.uint8)
        for j, t in enumerate(txt):
            cv2.putText(band, t[:34], (2, 11 + 13 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1)
        tiles.append(np.vstack([img, band]))
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    for r in range(0, len(tiles), cols):
        rows.append(np.hstack(tiles[r:r + cols]))
    p = os.path.join(out, "contact_sheet.png")
    cv2.imwrite(p, np.vstack(rows))
    return p
