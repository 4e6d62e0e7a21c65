"""Paper 002 (Cho et al., ICCVW 2019): hierarchical fashion category classification with HMCN-F
heads and uncertainty-weighted multi-task losses on a frozen image encoder.

Modules: hierarchy (5- / 10-parent groupings), netgen (the heads' nets and solvers), pretrain
(the frozen encoder when no pretrained weights exist), features (extraction to HDF5), metrics,
learning (an end-to-end check on the tiny wardrobe)."""
