"""The search app's web server (Flask): the page, its JSON API and the images.

    app = create_app(catalogue, card)        # tools/search_app/catalogue.py, model.py's card
    app.run(port=8004, threaded=True)

API (JSON in and out; an error is HTTP 400 with {"error": one paragraph for the page}):

    GET  /api/model                      the model card (net, scale, data, measured top-20)
    GET  /api/queries                    the query set: [{row, id, url}]
    POST /api/query                      form: query_row=<row of the query set> or image=<file upload>
                                         → {"query": ...} (its image URL and predicted attributes)
    POST /api/search    {changes, k}     changes {special attribute: value name} (the predicted value
                                         undoes a change) → {"query", "results", "target", "weights"}
    POST /api/feedback  {picked, k}      gallery ids judged relevant: one replaces the query, several
                                         weigh the signatures (eq. 5); then searches again (eq. 6)
    GET  /images/<gallery|query>/<row>.jpg, GET /api/query.jpg (this shopper's query)

Each browser is one shopper (tools/search_app/shoppers.py): its token lives in Flask's signed cookie.
"""
from __future__ import annotations

import os

from flask import Flask, Response, jsonify, render_template, request, session

from .catalogue import decode_upload, encode_jpeg
from .shoppers import ShopperStore

MAX_K = 50
DEFAULT_K = 10


class PageError(ValueError):
    """A shopper's mistake, shown on the page."""


def create_app(catalogue, card, secret_key=None, capacity=512):
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key or os.urandom(32), MAX_CONTENT_LENGTH=8 * 1024 * 1024)
    app.json.sort_keys = False
    store = ShopperStore(capacity)
    jpeg_cache = {}
    cat = catalogue
    app.extensions["search_app"] = {"catalogue": cat, "shoppers": store, "card": card}

    def shopper():
        if "shopper" not in session:
            session["shopper"] = store.new_token()
        return store.get(session["shopper"])

    def image_url(split, row):
        return f"/images/{split}/{int(row)}.jpg"

    def query_payload(sh):
        s = sh.session
        predicted = s.attributes()
        attrs = []
        for g in cat.groups:
            value, prob = predicted[g]
            row = {"group": g, "predicted": value, "probability": round(prob, 4), "special": g in cat.special}
            if g in cat.special:
                row["choices"] = list(cat.values[g])
                row["searchable"] = [searchable(g, k) for k in range(len(cat.values[g]))]
                row["target"] = cat.values[g][s.changes[g]] if g in s.changes else value
            attrs.append(row)
        return {"url": f"/api/query.jpg?v={len(sh.picks)}-{id(s)}", "label": sh.query_label, "attributes": attrs,
                "feedback_rounds": len(sh.picks)}

    def target_of(s):
        pred = s.attributes()
        return {a: (cat.values[a][s.changes[a]] if a in s.changes else pred[a][0]) for a in cat.special}

    def results_payload(sh, hits):
        s = sh.session
        target = target_of(s)
        exact = cat.exact_matches([h.index for h in hits], target)
        results = [{"rank": h.rank, "id": h.id, "row": h.index, "url": image_url("gallery", h.index),
                    "distance": round(h.distance, 5), "exact": bool(e),
                    "attributes": {a: v for a, v in cat.true_attributes("gallery", h.index).items() if a in cat.special}}
                   for h, e in zip(hits, exact)]
        weights = None if s.weights is None else dict(zip(cat.search.index.names, [round(float(w), 4) for w in s.weights]))
        return {"query": query_payload(sh), "results": results, "target": target, "weights": weights,
                "exact_count": int(exact.sum())}

    def searchable(attr, k):
        return cat.search.prototypes.has(attr, k)

    def check_searchable(attr, value):
        """A known value that no training image shows has no prototype: say so by name."""
        if attr in cat.special and value in cat.values[attr]:
            if not searchable(attr, cat.values[attr].index(value)):
                raise PageError(f"No training image of this model shows {attr} = {value!r}, so it has no prototype "
                                f"to search with; choose another {attr}.")

    def k_of(body):
        try:
            k = int(body.get("k", DEFAULT_K))
        except (TypeError, ValueError):
            raise PageError(f"k must be a whole number of results (1 … {MAX_K}), got {body.get('k')!r}")
        if not 1 <= k <= MAX_K:
            raise PageError(f"k must be between 1 and {MAX_K}, got {k}")
        return k

    def current(sh):
        if sh.session is None:
            raise PageError("Pick a query image from the query set or upload one first.")
        return sh.session

    def body():
        got = request.get_json(silent=True)
        if got is None:
            raise PageError("this request needs a JSON body")
        return got

    @app.errorhandler(PageError)
    @app.errorhandler(ValueError)
    def _page_error(err):
        return jsonify(error=str(err)), 400

    @app.errorhandler(413)
    def _too_large(err):
        return jsonify(error="The upload is larger than 8 MB; upload a smaller photo."), 413

    @app.errorhandler(500)
    def _internal(err):
        cause = getattr(err, "original_exception", None) or err
        return jsonify(error=f"The server failed on this request ({type(cause).__name__}: {cause}); "
                             "the query you had is kept -- try again or pick another query."), 500

    @app.get("/")
    def index():
        return render_template("index.html", card=card, k=DEFAULT_K, max_k=MAX_K)

    @app.get("/api/model")
    def model():
        return jsonify(card)

    @app.get("/api/queries")
    def queries():
        return jsonify([{"row": i, "id": n, "url": image_url("query", i)} for i, n in enumerate(cat.queries["names"])])

    @app.get("/images/<split>/<int:row>.jpg")
    def image(split, row):
        pool = {"gallery": cat.gallery, "query": cat.queries}.get(split)
        if pool is None or not 0 <= row < len(pool["images"]):
            return jsonify(error=f"no {split} image #{row}"), 404
        if (split, row) not in jpeg_cache:
            jpeg_cache[(split, row)] = encode_jpeg(pool["images"][row])
        return Response(jpeg_cache[(split, row)], mimetype="image/jpeg",
                        headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/api/query.jpg")
    def query_image():
        sh = shopper()
        if not sh.query_jpeg:
            return jsonify(error="no query yet"), 404
        return Response(sh.query_jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.post("/api/query")
    def set_query():
        sh = shopper()
        upload = request.files.get("image")
        if upload is not None and upload.filename:
            img = decode_upload(upload.read(), upload.filename)
            label = f"your upload {upload.filename}"
        elif request.form.get("query_row", "").strip():
            raw = request.form["query_row"].strip()
            if not raw.isdigit() or int(raw) >= len(cat.queries["images"]):
                raise PageError(f"query_row must be a row of the query set (0 … {len(cat.queries['images']) - 1}), "
                                f"got {raw!r}")
            img = cat.queries["images"][int(raw)]
            label = f"query set #{int(raw)} ({cat.queries['names'][int(raw)]})"
        else:
            raise PageError("Choose an image file to upload or click an image of the query set.")
        new = cat.search.session(img)
        with sh.lock:
            sh.session, sh.query_jpeg, sh.query_label, sh.picks = new, encode_jpeg(img), label, []
            return jsonify(query=query_payload(sh))

    @app.post("/api/search")
    def search():
        sh = shopper()
        b = body()
        k = k_of(b)
        changes = b.get("changes") or {}
        if not isinstance(changes, dict):
            raise PageError("changes must map special attributes to value names")
        with sh.lock:
            s = current(sh)
            for attr, value in changes.items():
                check_searchable(str(attr), str(value))
            s.manipulate({str(a): str(v) for a, v in changes.items()})
            return jsonify(results_payload(sh, s.search(k)))

    @app.post("/api/feedback")
    def feedback():
        sh = shopper()
        b = body()
        k = k_of(b)
        picked = b.get("picked") or []
        if not isinstance(picked, list) or not picked:
            raise PageError("Click one or more results you like before searching with feedback.")
        with sh.lock:
            s = current(sh)
            s.feedback([str(p) for p in picked])
            sh.picks.append([str(p) for p in picked])
            if len(picked) == 1:   # the picked result is the new query (FashionSearch replaced its image)
                row = cat.gallery_row(picked[0])
                sh.query_jpeg = encode_jpeg(cat.gallery["images"][row])
                sh.query_label = f"result {picked[0]} (your pick)"
            return jsonify(results_payload(sh, s.search(k)))

    return app
