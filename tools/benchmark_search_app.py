"""Latency of the search app over HTTP: a scripted shopper session against the app served on a local
port -- pick a query, search, change special attributes, give relevance feedback with several picks
and with one -- printing the median and p95 of each kind of request and of all searches.

    python -m tools.benchmark_search_app [--data synthetic] [--scale tiny] [--searches 50] [--k 20]

The model is the one ``make search-demo`` serves (trained first when missing).  A "search" is every
request that ranks the gallery (search, manipulated search, feedback); picking a query also runs
the ONNX model and the part extraction on its image, so it is reported on its own line.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import logging
import os
import sys
import threading
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.search_app.__main__ import build_app  # noqa: E402
from tools.search_app.model import ensure_model  # noqa: E402


class Client:
    """One browser: a cookie jar and timed requests."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.times = {}

    def call(self, kind, path, data=None, json_body=None):
        headers = {}
        if json_body is not None:
            data, headers = json.dumps(json_body).encode(), {"Content-Type": "application/json"}
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        t0 = time.perf_counter()
        with self.opener.open(req) as resp:
            body = json.loads(resp.read())
        self.times.setdefault(kind, []).append(time.perf_counter() - t0)
        return body


def scripted_session(client, n_queries, searches, k, rng):
    """``searches`` ranking requests in rounds of: pick, search, manipulate, feedback (3 picks),
    manipulate again, feedback (1 pick: the new query)."""
    done = 0
    row = 0
    while done < searches:
        q = client.call("pick a query", "/api/query", data=f"query_row={row % n_queries}".encode())["query"]
        row += 1
        res = client.call("search", "/api/search", json_body={"changes": {}, "k": k})
        done += 1
        steps = ["manipulate", "feedback (3 picks)", "manipulate", "feedback (1 pick)"]
        for step in steps:
            if done >= searches:
                break
            if step == "manipulate":
                spec = [a for a in res["query"]["attributes"] if a["special"]]
                a = spec[int(rng.integers(len(spec)))]
                ok = [v for v, s in zip(a["choices"], a["searchable"]) if s and v != a["target"]]
                change = {a["group"]: ok[int(rng.integers(len(ok)))]} if ok else {}
                res = client.call("manipulated search", "/api/search", json_body={"changes": change, "k": k})
            else:
                ids = [r["id"] for r in res["results"]]
                picks = list(rng.choice(ids, size=3 if "3" in step else 1, replace=False))
                res = client.call(step, "/api/feedback", json_body={"picked": [str(p) for p in picks], "k": k})
            done += 1
    del q
    return client.times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--scale", default="tiny")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--searches", type=int, default=50)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    a = ap.parse_args(argv)
    from werkzeug.serving import make_server

    model = ensure_model(a.data, a.scale, a.seed)
    cached = os.path.isfile(os.path.join(model.run_dir, "features.npz"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # no line per request
    t0 = time.perf_counter()
    app = build_app(model, a.threads)
    load_s = time.perf_counter() - t0
    cat = app.extensions["search_app"]["catalogue"]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{server.port}")
        client.call("warm-up", "/api/model")
        times = scripted_session(client, len(cat.queries["images"]), a.searches, a.k, np.random.default_rng(0))
    finally:
        server.shutdown()
    print(f"search app latency over HTTP: model {model.run_dir} ({model.card['net']}, scale {a.scale}, "
          f"{model.card['data']}); gallery {len(cat.search.index)} images, k = {a.k}, CPU threads "
          f"{os.cpu_count()}")
    print(f"app start (gallery + training features {'read from' if cached else 'computed into'} features.npz, "
          f"faiss index built): {load_s:.2f} s")
    ranking = [t for kind, ts in times.items() if kind not in ("pick a query", "warm-up") for t in ts]
    rows = [(kind, ts) for kind, ts in times.items() if kind != "warm-up"] + [("all searches", ranking)]
    print(f"{'request':<22} {'n':>4} {'median ms':>10} {'p95 ms':>10}")
    for kind, ts in rows:
        ms = np.asarray(ts) * 1000.0
        print(f"{kind:<22} {len(ms):>4} {np.median(ms):>10.1f} {np.percentile(ms, 95):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
