"""``python -m tools.search_app``: serve paper 004's fashion search on localhost, training the model at
the given scale first when none exists (``make search-demo``)."""
from __future__ import annotations

import argparse
import os
import sys

from .catalogue import Catalogue
from .model import ensure_model
from .server import create_app


def build_app(model, threads=None):
    """The Flask app serving a :class:`tools.search_app.model.DemoModel` (features cached beside it)."""
    cat = Catalogue.load(model.onnx, model.mean, model.data_root, os.path.join(model.run_dir, "features.npz"),
                         threads=threads)
    return create_app(cat, model.card)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synthetic", help="'synthetic' (the wardrobe) or a Shopping100k-style root")
    ap.add_argument("--scale", default="tiny", help="paper 004's scale (tools/paper004/config.py)")
    ap.add_argument("--seed", type=int, default=1, help="training seed")
    ap.add_argument("--variant", default="proposed", help="proposed | wo_parts | wo_parts_ranking")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8004)
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    a = ap.parse_args(argv)
    model = ensure_model(a.data, a.scale, a.seed, a.variant)
    app = build_app(model, a.threads)
    print(f"fashion search: http://{a.host}:{a.port}/  (model {model.run_dir}; Ctrl-C stops)", flush=True)
    try:
        app.run(host=a.host, port=a.port, threaded=True, use_reloader=False)
    except OSError as e:   # most often: the port is taken (another demo still running)
        raise SystemExit(f"search app: cannot serve on {a.host}:{a.port} ({e}); stop what uses the port or pick "
                         "another one (make search-demo SEARCH_PORT=8005, or --port)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
