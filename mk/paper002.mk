# Paper 002 (Cho et al., ICCVW 2019): HMCN-F heads with uncertainty weighting on a frozen encoder, Table 1.
# WEIGHTS=<encoder caffemodel> (EfficientNet-b5 / ResNet-50, e.g. ImageNet) replaces the attribute-pretrained
# encoder.  tools/paper002/README.md.
$(eval $(call paper_targets,002,table1 curves))

paper002: ## paper 002: Table 1, curves and sigma plot, report.md with the claims that held
paper002-table1: ## paper 002 Table 1: category top-3 / top-5 (flat, HMCN-F(5|10), +MTL)
paper002-curves: ## paper 002: training curves, learned sigmas, convergence (iterations to a validation target)

PAPER002_EXPORT_VARIANT ?= hmcn10_mtl
paper002-onnx: $(VENV_STAMP) ## paper 002: ONNX of encoder + heads (PAPER002_EXPORT_VARIANT, first seed) with parent and category names
	$(PY) -m tools.paper002.export --scale $(SCALE) --data "$(DATA)" --variant $(PAPER002_EXPORT_VARIANT) \
	  --seed $(firstword $(or $(SEEDS),1)) $(if $(WEIGHTS),--weights "$(WEIGHTS)")
.PHONY: paper002-onnx
