"""Synthetic wardrobe: a deterministic procedural generator of clothing photographs written in the
real datasets' file formats (DeepFashion, JD AI Fashion, e-Clothing-style, Shopping100k-style).

    from data_prep.wardrobe import generate
    paths = generate("/tmp/wardrobe", size="tiny", seed=0)
"""
from .generate import default_dir, ensure, generate
from .plan import SIZES

__all__ = ["generate", "ensure", "default_dir", "SIZES"]
