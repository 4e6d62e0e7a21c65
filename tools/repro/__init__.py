"""The reproduction framework every paper is written on (docs/ADDING_A_PAPER.md).

    registry.py    the registered papers and the modules each provides
    layout.py      Experiment (paper, scale, data, seeds, variants, device) and the run-folder layout
    cli.py         ``python -m tools.paperNNN data|nets|train|evaluate|report|all`` with one set of flags
    nets.py        generated nets: committed scales (tiny, full) checked equal to the generator
    training.py    RunPlan / Stage: a run's stages trained by ``fashioncaffe train`` (resumable)
    evaluation.py  predictions.npz from the paper's ``predict``, results.json from its ``metrics.score``
    results.py     the results.json and predictions.npz schemas, atomic writes
    forward.py     running trained nets over test data (Data-layer nets, deploy nets on arrays, LMDBs)
    report.py      tables (header, mean ± std cells, the paper's numbers), claims, report.md
    stats.py       paired bootstrap, mean ± std
    plots.py       curves and grouped bars (matplotlib, to files)
"""
