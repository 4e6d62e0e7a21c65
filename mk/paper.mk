# The one template of every paper's make targets.  A paper's mk/paperNNN.mk is
#
#     $(eval $(call paper_targets,NNN,<its tables>))
#     paperNNN: ## paper NNN: ...                      (one help line per table target, and this one)
#     paperNNN-<table>: ## paper NNN <Table>: ...
#
# and gets:  paperNNN             every table, report.md with the claims   (python -m tools.paperNNN all)
#            paperNNN-<table>     one table: the runs it needs, then it    (all --tables <table>)
#            paperNNN-data        the data of SCALE / DATA                 (data)
#            paperNNN-nets        regenerate the committed nets            (nets --scale SCALE)
#            paperNNN-check       committed nets = generator output        (nets --check)
#            paperNNN-train       train every run of SCALE                 (train)
#            paperNNN-evaluate    predictions.npz + results.json per run   (evaluate)
# Variables (the same for every paper): SCALE=ci|tiny|small|full DATA=synthetic|<folder> SEEDS="1 2 3"
# GPU=0|0,1 VARIANTS=a,b WEIGHTS=<caffemodel> FORCE=1.  Outputs: runs/paperNNN/<data>-<scale>/.

PAPERS :=
PAPER_FLAGS = --scale $(SCALE) --data "$(DATA)" $(if $(SEEDS),--seeds "$(SEEDS)") $(if $(GPU),--gpu "$(GPU)") \
              $(if $(VARIANTS),--variants "$(VARIANTS)") $(if $(WEIGHTS),--weights "$(WEIGHTS)") $(if $(FORCE),--force)

define paper_targets
PAPERS += $(1)

paper$(1): $$(VENV_STAMP)
	$$(PY) -m tools.paper$(1) all $$(PAPER_FLAGS)

$(addprefix paper$(1)-,$(2)): paper$(1)-%: $$(VENV_STAMP)
	$$(PY) -m tools.paper$(1) all --tables $$* $$(PAPER_FLAGS)

paper$(1)-data: $$(VENV_STAMP)
	$$(PY) -m tools.paper$(1) data $$(PAPER_FLAGS)

paper$(1)-train: paper$(1)-data
	$$(PY) -m tools.paper$(1) train $$(PAPER_FLAGS)

paper$(1)-evaluate: paper$(1)-train
	$$(PY) -m tools.paper$(1) evaluate $$(PAPER_FLAGS)

paper$(1)-nets: $$(VENV_STAMP)
	$$(PY) -m tools.paper$(1) nets --scale $$(SCALE)

paper$(1)-check: $$(VENV_STAMP)
	$$(PY) -m tools.paper$(1) nets --check

.PHONY: paper$(1) $(addprefix paper$(1)-,$(2) data train evaluate nets check)
endef

# the help lines of the targets every paper has (`make help` prints them with the ## lines)
paper_help = printf '%s\t%s\n' \
  paper$(1)-data "paper $(1): convert DATA for SCALE into runs/paper$(1)/data/" \
  paper$(1)-train "paper $(1): train every variant and seed of SCALE (finished stages are kept)" \
  paper$(1)-evaluate "paper $(1): predictions.npz + results.json of every trained run" \
  paper$(1)-nets "paper $(1): regenerate prototxt|solvers/paper$(1)/{tiny,full} (and SCALE's into runs/)" \
  paper$(1)-check "paper $(1): check the committed nets equal the generator's output";
