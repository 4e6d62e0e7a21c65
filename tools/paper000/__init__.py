"""Paper 000 (Li et al.): multi-label vs multi-task vs multi-weight AlexNets on e-Clothing-style data."""
