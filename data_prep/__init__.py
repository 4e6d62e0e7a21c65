"""Dataset preparation: converters to LMDB and the synthetic wardrobe generator."""
