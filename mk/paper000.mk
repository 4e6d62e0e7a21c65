# Paper 000 (Li et al., "Improving Deep CNNs for Real-world Clothing Image"): multi-label vs
# multi-task vs multi-weight AlexNets, mAP@50 per attribute group.  Included by the top Makefile.
#
# Uses: PY (the venv's python), SCALE (tiny|small|full; also ci = tiny with 1/10 of the iterations),
#       DATA (synthetic | path to an e-Clothing-style folder), GPU (ids, e.g. 0 or 0,1; empty = CPU),
#       SEEDS (e.g. "1 2 3"; empty = the scale's default: 1 at tiny/ci, 1 2 3 at small/full),
#       $(VENV_STAMP) (installs the venv).
#
#   make paper000-table2 SCALE=tiny          Table II   (multi-label / multi-task / multi-weight)
#   make paper000-table3 SCALE=small         Table III  (+ the eq. 11 "1/3 ratio" weights)
#   make paper000-table4                     Table IV   (Coat vs Pantsuit, 10:1)
#   make paper000-table5                     Table V    (Length of Sleeve vs Sleeve, 10:1)
#   make paper000-fig2                       Fig. 2     (mAP of every group, four methods)
#   make paper000                            all of the above
#   make paper000-data                       only the data: wardrobe -> data_prep.eclothing LMDBs
#   make paper000-nets                       regenerate prototxt/paper000 and solvers/paper000
# Outputs: runs/paper000/<source>-<scale>/{table2_fc7.md, ..., fig2_fc7.png}; runs per
# runs/paper000/<source>-<scale>/<dataset>_<variant>/seed<N>/ (train.log, result.json, weights).
# P000_REP=output searches the groups' outputs instead of fc7.

P000_SCALE := $(if $(SCALE),$(SCALE),tiny)
P000_DATA := $(if $(DATA),$(DATA),synthetic)
P000_SEEDS ?= $(SEEDS)
P000_REP ?= fc7
P000_PY = PYTHONPATH="$(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))" $(PY)
P000_ARGS = --scale $(P000_SCALE) --data "$(P000_DATA)" --gpu "$(GPU)" --seeds "$(P000_SEEDS)" --rep $(P000_REP)

.PHONY: paper000 paper000-data paper000-nets paper000-table2 paper000-table3 paper000-table4 \
        paper000-table5 paper000-fig2 paper000-check

paper000-data: $(VENV_STAMP)
	$(P000_PY) -m tools.paper000.run data --scale $(P000_SCALE) --data "$(P000_DATA)"

paper000-table2 paper000-table3 paper000-table4 paper000-table5 paper000-fig2: paper000-%: paper000-data
	$(P000_PY) -m tools.paper000.run $* $(P000_ARGS)

paper000: paper000-data
	$(P000_PY) -m tools.paper000.run all $(P000_ARGS)

paper000-nets: $(VENV_STAMP)
	$(P000_PY) -m tools.paper000.netgen

# the committed nets/solvers must equal the generator's output
paper000-check: $(VENV_STAMP)
	$(P000_PY) -m tools.paper000.netgen --check

# one-line descriptions for `make help`
paper000-table2: ## paper 000 Table II: mAP@50 per group, multi-label vs multi-task vs multi-weight AlexNet
paper000-table3: ## paper 000 Table III: Table II plus the eq. 11 "1/3 ratio" smoothed weights
paper000-table4: ## paper 000 Table IV: Coat vs Pantsuit at a 10:1 ratio
paper000-table5: ## paper 000 Table V: Length of Sleeve vs Sleeve at a 10:1 ratio
paper000-fig2: ## paper 000 Fig. 2: per-group mAP@50 bars of the four methods
paper000: ## paper 000: every table and the figure
paper000-data: ## paper 000: wardrobe / e-Clothing list -> LMDBs for every experiment
paper000-nets: ## paper 000: regenerate prototxt/paper000 and solvers/paper000 (NetSpec)
paper000-check: ## paper 000: check the committed nets equal the generator's output
