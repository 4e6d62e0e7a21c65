# Paper 001 (Liu et al., DeepFashion, CVPR 2016): FashionNet, Table 2 and Figs. 8-10.
# WEIGHTS=VGG_ILSVRC_16_layers.caffemodel (full scale) is mapped onto FashionNet per run.  tools/paper001/README.md.
$(eval $(call paper_targets,001,table2 fig8 fig9 fig10))

paper001: ## paper 001: every table and figure, report.md with the claims that held
paper001-table2: ## paper 001 Table 2: category top-k accuracy, attribute top-k recall
paper001-fig8: ## paper 001 Fig. 8: in-shop top-k retrieval accuracy (k = 1..50)
paper001-fig9: ## paper 001 Fig. 9: consumer-to-shop top-k retrieval accuracy
paper001-fig10: ## paper 001 Fig. 10: landmark detection rate vs normalised distance
