# Data targets: the synthetic wardrobe and the converters to Caffe LMDBs.  Included by the Makefile.
# DATA=synthetic converts the wardrobe of SCALE (generated on first use); DATA=<path> converts the
# real dataset folder at <path> (laid out as the dataset ships, see README "Using real data"): each
# target reads <path>/<its folder> (DeepFashion/In-shop, JD, eClothing, ... as in the wardrobe) when
# that folder exists, else <path> itself (so `make data-inshop DATA=/data/In-shop` works too).
# Outputs are rewritten on every run (--overwrite), so the targets can be re-run.
# They go to runs/data/<data>-<scale>/<dataset>/ (<data>: synthetic, or real-<folder name>), the layout
# of the papers' own data under runs/paperNNN/data/<data>-<scale>/ (a paper target converts what it
# needs itself, at its scale's image size; these targets are for converting a dataset by hand).

WARDROBE   = runs/wardrobe/$(SCALE)
DATA_OUT   = runs/data/$(if $(filter synthetic,$(DATA)),synthetic-$(SCALE),real-$(notdir $(abspath $(DATA))))
data_root  = $(if $(filter synthetic,$(DATA)),$(WARDROBE)/$(1),$(if $(wildcard $(DATA)/$(1)),$(DATA)/$(1),$(DATA)))
data_synth = $(if $(filter synthetic,$(DATA)),--synthetic,) --overwrite

$(WARDROBE)/README.md: | $(VENV_STAMP)
	$(PY) -m data_prep.wardrobe --out $(WARDROBE) --size $(SCALE)

wardrobe: $(VENV_STAMP) $(WARDROBE)/README.md ## generate the synthetic wardrobe of SCALE (real datasets' file formats + contact sheet)
	$(PY) -m data_prep.wardrobe.stats $(WARDROBE)

data-deepfashion: $(VENV_STAMP) $(if $(filter synthetic,$(DATA)),$(WARDROBE)/README.md) ## DeepFashion Category & Attribute → LMDBs
	$(PY) -m data_prep.deepfashion_category --root $(call data_root,DeepFashion/Category_and_Attribute) --out $(DATA_OUT)/category $(data_synth)

data-inshop: $(VENV_STAMP) $(if $(filter synthetic,$(DATA)),$(WARDROBE)/README.md) ## DeepFashion In-shop → LMDBs
	$(PY) -m data_prep.deepfashion_inshop --root $(call data_root,DeepFashion/In-shop) --out $(DATA_OUT)/inshop $(data_synth)

data-consumer2shop: $(VENV_STAMP) $(if $(filter synthetic,$(DATA)),$(WARDROBE)/README.md) ## DeepFashion Consumer-to-shop → LMDBs
	$(PY) -m data_prep.consumer_to_shop --root $(call data_root,DeepFashion/Consumer-to-shop) --out $(DATA_OUT)/consumer2shop $(data_synth)

data-jd: $(VENV_STAMP) $(if $(filter synthetic,$(DATA)),$(WARDROBE)/README.md) ## JD AI Fashion styles (13 labels, k-fold) → LMDBs
	$(PY) -m data_prep.jd_style --root $(call data_root,JD) --out $(DATA_OUT)/jd $(data_synth)

data-shopping100k: $(VENV_STAMP) $(if $(filter synthetic,$(DATA)),$(WARDROBE)/README.md) ## Shopping100k-style CSV → LMDBs
	$(PY) -m data_prep.shopping100k --root $(call data_root,Shopping100k) --out $(DATA_OUT)/shopping100k $(data_synth)

data-eclothing: $(VENV_STAMP) $(if $(filter synthetic,$(DATA)),$(WARDROBE)/README.md) ## e-Clothing-style keyword list → LMDBs
	$(PY) -m data_prep.eclothing --root $(call data_root,eClothing) --out $(DATA_OUT)/eclothing $(data_synth)

data: data-deepfashion data-inshop data-consumer2shop data-jd data-shopping100k data-eclothing ## every converter on DATA (default: the synthetic wardrobe)

.PHONY: wardrobe data data-deepfashion data-inshop data-consumer2shop data-jd data-shopping100k data-eclothing
