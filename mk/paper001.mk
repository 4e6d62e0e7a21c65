# Paper 001 — DeepFashion / FashionNet (Liu et al., CVPR 2016): Table 2, Fig. 8, 9, 10.
#   make paper001 SCALE=ci|tiny|small|full DATA=synthetic|<DeepFashion root> GPU=<ids> [P001_WEIGHTS=vgg16.caffemodel]
# SCALE=ci: tiny's net and data, a handful of iterations, variants fn + global: an end-to-end smoke run
# (~2 min on 2 CPU cores; tests/test_paper001_e2e.py runs the same steps in a temporary folder).
# Results: runs/paper001/<data>-<scale>/ (report.md, table2.md, fig8_inshop.png/.csv, fig9_c2s.*, fig10_*).
# Every step is resumable: data and finished training stages are reused.

P001_ARGS    = --scale $(SCALE) --data $(DATA)
P001_GPU     = $(if $(GPU),--gpu $(GPU),)
P001_WEIGHTS ?=

paper001-data: $(VENV_STAMP) ## paper 001: wardrobe / DeepFashion -> LMDBs (+ FashionNet targets, PK order)
	$(PY) -m tools.paper001.data $(P001_ARGS)

paper001-train: paper001-data ## paper 001: two-step iterative training + fine-tuning of every variant
	$(PY) -m tools.paper001.train $(P001_ARGS) $(P001_GPU) $(if $(P001_WEIGHTS),--weights $(P001_WEIGHTS),)

paper001-eval: paper001-train ## paper 001: evaluate every variant (results.json)
	$(PY) -m tools.paper001.evaluate $(P001_ARGS) $(P001_GPU)

paper001-table2: paper001-eval ## paper 001 Table 2: category top-k accuracy, attribute top-k recall
	$(PY) -m tools.paper001.report $(P001_ARGS) --what table2

paper001-fig8: paper001-eval ## paper 001 Fig. 8: in-shop top-k retrieval accuracy (k = 1..50)
	$(PY) -m tools.paper001.report $(P001_ARGS) --what fig8

paper001-fig9: paper001-eval ## paper 001 Fig. 9: consumer-to-shop top-k retrieval accuracy
	$(PY) -m tools.paper001.report $(P001_ARGS) --what fig9

paper001-fig10: paper001-eval ## paper 001 Fig. 10: landmark detection rate vs normalised distance
	$(PY) -m tools.paper001.report $(P001_ARGS) --what fig10

paper001: paper001-eval ## paper 001: everything above + report.md with the claims that held
	$(PY) -m tools.paper001.report $(P001_ARGS) --what all

paper001-nets: $(VENV_STAMP) ## paper 001: regenerate prototxt/paper001 and solvers/paper001
	$(PY) -m tools.paper001.netgen

.PHONY: paper001 paper001-data paper001-train paper001-eval paper001-table2 paper001-fig8 paper001-fig9 \
        paper001-fig10 paper001-nets
