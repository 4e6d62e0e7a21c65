"""CLI: python -m data_prep.wardrobe --out DIR --size tiny|small|full [--seed 0] ..."""
import argparse
import json
import sys
import time

from .generate import generate
from .plan import SIZES


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m data_prep.wardrobe",
                                 description="Generate the synthetic wardrobe datasets.")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--size", default="tiny", choices=list(SIZES), help="how many items and images (default tiny)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the whole wardrobe (default 0)")
    ap.add_argument("--wrong-label-rate", type=float, default=0.05, help="fraction of labels replaced by wrong ones (default 0.05)")
    ap.add_argument("--missing-rate", type=float, default=0.1, help="fraction of labels left out (default 0.1)")
    ap.add_argument("--image-size", type=int, default=None,
                    help="square image side in px (default: 128 for tiny, 256 otherwise)")
    ap.add_argument("--workers", type=int, default=None, help="render processes (default: all CPUs)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    t = time.time()
    res = generate(a.out, size=a.size, seed=a.seed, wrong_label_rate=a.wrong_label_rate,
                   missing_rate=a.missing_rate, image_size=a.image_size, workers=a.workers,
                   progress=not a.quiet)
    print(json.dumps(res["counts"], indent=1))
    print(f"wrote {res['root']} in {time.time() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
