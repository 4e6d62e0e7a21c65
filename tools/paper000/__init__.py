"""Paper 000 (Li et al.): multi-label vs multi-task vs multi-weight CNNs, mAP@50 per attribute group.
Run with ``python -m tools.paper000`` (the framework's command shape, tools/repro)."""
