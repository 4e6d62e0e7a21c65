"""The search app's server (tools/search_app) through Flask's test client, on the small trained model
of tests/search_app_support.py: the page's model card, query by pick and by upload, attribute
manipulation, relevance feedback (eq. 5-6), exact-match marks, clear errors, and per-shopper state --
each answer checked against paper 004's search API called directly on the same catalogue."""
import io
import json
import os
import threading

import cv2
import numpy as np
import pytest

from tools.paper004 import metrics
from tools.search_app.__main__ import build_app


@pytest.fixture(scope="module")
def app(search_app_model):
    return build_app(search_app_model, threads=1)


@pytest.fixture(scope="module")
def cat(app):
    return app.extensions["search_app"]["catalogue"]


def post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


def pick(client, row):
    r = client.post("/api/query", data={"query_row": str(row)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["query"]


def other_value(cat, attr, value):
    return next(v for v in cat.values[attr] if v != value)


def test_page_shows_the_measured_model_card(app, search_app_model):
    card = search_app_model.card
    html = app.test_client().get("/").get_data(as_text=True)
    assert card["net"] in html and "scale <b>ci</b>" in html and "synthetic" in html
    ev = json.load(open(os.path.join(search_app_model.run_dir, "evaluation_results.json")))
    pred = np.load(os.path.join(search_app_model.run_dir, "evaluation_predictions.npz"))
    for proto, acc in card["accuracy"].items():
        task = {"ranked": pred[f"{proto}_ranked"], "labels": pred[f"{proto}_labels"],
                "gallery_labels": pred["gallery_labels"]}
        assert acc["tasks"] == ev[proto]["tasks"] == len(task["ranked"])
        if not acc["tasks"]:
            assert acc["top20"] is None
            continue
        # the card's number is the evaluation's, and the evaluation's is recomputed from its predictions
        assert acc["top20"] == ev[proto]["top20"] and f"<b>{acc['top20']:.3f}</b>" in html
        assert metrics.topk_accuracy(metrics.first_hits(task))[19] == pytest.approx(ev[proto]["top20"])
    assert card["accuracy"]["direct"]["tasks"] > 0 and "not the paper's" in html
    assert app.test_client().get("/api/model").get_json() == card


def test_pick_search_manipulate_and_undo_match_the_search_api(app, cat):
    c = app.test_client()
    q = pick(c, 2)
    direct = cat.search.session(cat.queries["images"][2])
    pred = direct.attributes()
    assert [a["group"] for a in q["attributes"]] == cat.groups
    for a in q["attributes"]:
        assert a["predicted"] == pred[a["group"]][0]
        assert a["special"] == (a["group"] in cat.special) and (("choices" in a) == a["special"])
    r = post(c, "/api/search", {"changes": {}, "k": 7}).get_json()
    want = direct.search(7)
    assert [h["id"] for h in r["results"]] == [h.id for h in want] and [h["rank"] for h in r["results"]] == list(range(1, 8))
    assert np.all(np.diff([h["distance"] for h in r["results"]]) >= -1e-6)
    assert r["target"] == {a: pred[a][0] for a in cat.special}
    assert [h["exact"] for h in r["results"]] == cat.exact_matches([h.index for h in want], r["target"]).tolist()

    attr = cat.special[0]
    new = other_value(cat, attr, pred[attr][0])
    r2 = post(c, "/api/search", {"changes": {attr: new}, "k": 7}).get_json()
    direct.manipulate({attr: new})
    assert r2["target"][attr] == new and [h["id"] for h in r2["results"]] == [h.id for h in direct.search(7)]
    row = next(a for a in r2["query"]["attributes"] if a["group"] == attr)
    assert row["target"] == new and row["predicted"] == pred[attr][0]
    for h in r2["results"]:   # an exact mark means the true labels equal the manipulated target
        assert h["exact"] == all(h["attributes"][a] == r2["target"][a] for a in cat.special)
    undo = post(c, "/api/search", {"changes": {attr: pred[attr][0]}, "k": 7}).get_json()
    assert [h["id"] for h in undo["results"]] == [h["id"] for h in r["results"]]


def test_feedback_several_picks_weigh_signatures_one_pick_replaces_the_query(app, cat):
    c = app.test_client()
    pick(c, 1)
    r = post(c, "/api/search", {"changes": {}, "k": 10}).get_json()
    ids = [r["results"][0]["id"], r["results"][3]["id"], r["results"][5]["id"]]
    fb = post(c, "/api/feedback", {"picked": ids, "k": 10}).get_json()
    direct = cat.search.session(cat.queries["images"][1])
    weights = direct.feedback(ids)
    assert fb["weights"] == pytest.approx(weights, abs=1e-4) and len(set(weights.values())) > 1
    assert np.mean(list(weights.values())) == pytest.approx(1.0, abs=1e-5)
    assert [h["id"] for h in fb["results"]] == [h.id for h in direct.search(10)]
    assert fb["query"]["feedback_rounds"] == 1

    one = r["results"][4]["id"]
    fb1 = post(c, "/api/feedback", {"picked": [one], "k": 5}).get_json()
    assert one in fb1["query"]["label"] and fb1["results"][0]["id"] == one   # the pick is the query now
    assert fb1["results"][0]["distance"] == pytest.approx(0.0, abs=1e-4)
    img = cv2.imdecode(np.frombuffer(c.get("/api/query.jpg").data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == cat.gallery["images"][cat.gallery_row(one)].shape


def test_clear_errors_for_bad_input(app, cat):
    c = app.test_client()
    r = post(c, "/api/search", {"changes": {}})
    assert r.status_code == 400 and "Pick a query image" in r.get_json()["error"]
    r = c.post("/api/query", data={"image": (io.BytesIO(b"just some text, not a photo"), "notes.txt")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and "notes.txt is not an image" in r.get_json()["error"]
    pick(c, 0)
    attr = cat.special[0]
    r = post(c, "/api/search", {"changes": {attr: "plaid-ish"}})
    msg = r.get_json()["error"]
    assert r.status_code == 400 and "'plaid-ish' is not a value of " + attr in msg and cat.values[attr][0] in msg
    r = post(c, "/api/search", {"changes": {"category": cat.values["category"][0]}})
    assert r.status_code == 400 and "not a special attribute" in r.get_json()["error"]
    r = post(c, "/api/feedback", {"picked": ["no-such-image.jpg"]})
    assert r.status_code == 400 and "no-such-image.jpg" in r.get_json()["error"]
    assert post(c, "/api/search", {"k": 500}).status_code == 400
    assert c.get("/images/gallery/99999.jpg").status_code == 404


def test_upload_of_a_photo_is_a_query(app, cat):
    c = app.test_client()
    img = cat.gallery["images"][3]
    ok, png = cv2.imencode(".png", img)
    r = c.post("/api/query", data={"image": (io.BytesIO(png.tobytes()), "mine.png")},
               content_type="multipart/form-data")
    assert r.status_code == 200 and "mine.png" in r.get_json()["query"]["label"]
    res = post(c, "/api/search", {"k": 3}).get_json()["results"]
    assert res[0]["id"] == cat.gallery["names"][3]      # a gallery image finds itself first


def test_shoppers_do_not_see_each_others_state(app, cat):
    a, b = app.test_client(), app.test_client()
    pick(a, 0)
    pick(b, 1)
    attr = cat.special[1]
    pa = post(a, "/api/search", {"k": 5}).get_json()
    new = other_value(cat, attr, pa["target"][attr])
    post(a, "/api/search", {"changes": {attr: new}, "k": 5})
    post(a, "/api/feedback", {"picked": [pa["results"][0]["id"], pa["results"][1]["id"]], "k": 5})
    rb = post(b, "/api/search", {"k": 5}).get_json()
    alone = cat.search.session(cat.queries["images"][1])
    assert rb["weights"] is None and rb["query"]["feedback_rounds"] == 0
    assert rb["target"] == {v: alone.attributes()[v][0] for v in cat.special}
    assert [h["id"] for h in rb["results"]] == [h.id for h in alone.search(5)]

    # the same, many shoppers at once on the server's threads
    n = min(6, len(cat.queries["images"]))
    want = {row: [h.id for h in cat.search.session(cat.queries["images"][row]).search(5)] for row in range(n)}
    got, errors = {}, []

    def shop(row):
        try:
            c = app.test_client()
            for _ in range(3):
                pick(c, row)
                got[row] = [h["id"] for h in post(c, "/api/search", {"k": 5}).get_json()["results"]]
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(e))

    threads = [threading.Thread(target=shop, args=(row,)) for row in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == want


def test_features_are_cached_beside_the_model(search_app_model, cat):
    from tools.search_app.catalogue import Catalogue

    cache = os.path.join(search_app_model.run_dir, "features.npz")
    assert os.path.isfile(cache)
    again = Catalogue.load(search_app_model.onnx, search_app_model.mean, search_app_model.data_root, cache)
    for v in cat.search.index.names:
        np.testing.assert_array_equal(again.search.index.sigs[v], cat.search.index.sigs[v])


def test_shopper_store_forgets_the_least_recently_used_first():
    from tools.search_app.shoppers import ShopperStore

    store = ShopperStore(capacity=2)
    a, b = store.get("a"), store.get("b")
    assert store.get("a") is a            # touched: b is now the oldest
    store.get("c")
    assert len(store) == 2 and store.get("a") is a and store.get("b") is not b
    assert ShopperStore.new_token() != ShopperStore.new_token()
