# The GPU check (issue 18): tools/gpu_check.  Included by the Makefile.  Never needed by CI.
#
#   make gpu-check                     on a machine with a CUDA GPU: < 8 min, installs faiss-cpu / torchvision
#                                      where pip reaches an index; writes runs/gpu_check/gpu/gpu_check.{json,md,log}
#   make gpu-check DRY=1               on a CPU: every section at tiny sizes, the CUDA parts reported skipped
#                                      (runs/gpu_check/dry/)
#   make gpu-check SECTIONS=knn,data   a subset (env always runs); GPU_CHECK_BUDGET=<s> overrides the budget
#   make gpu-check GPU_CHECK_PY=python3
#                                      with that Python instead of .venv (an image that already has torch,
#                                      as the lent GPU machines: docs/GPU_CHECK.md gives their exact command)

GPU_CHECK_PY     ?=
GPU_CHECK_OUT    ?= runs/gpu_check/$(if $(DRY),dry,gpu)
GPU_CHECK_BUDGET ?=
SECTIONS         ?=

gpu-check: $(if $(GPU_CHECK_PY),,$(VENV_STAMP)) ## issue 18's GPU check (< 8 min on one GPU; DRY=1: the CPU dry mode) -> runs/gpu_check/
	PYTHONPATH="$(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))" $(or $(GPU_CHECK_PY),$(PY)) -m tools.gpu_check \
	  $(if $(DRY),--dry) $(if $(SECTIONS),--sections $(SECTIONS)) \
	  $(if $(GPU_CHECK_BUDGET),--budget-s $(GPU_CHECK_BUDGET)) --out $(GPU_CHECK_OUT)

gpu-check-wheels: $(VENV_STAMP) ## download the wheels a lent GPU machine lacks into .whl/ (docs/GPU_CHECK.md)
	$(PY) -m tools.gpu_check.wheels --dest .whl

.PHONY: gpu-check gpu-check-wheels
