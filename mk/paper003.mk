# Paper 003 (Liu et al., Extreme-WJLD, JD AI Fashion Challenge): 13 fashion styles, F2 per style,
# ResNet-50 / DenseNet-121 / Inception-v4, fusion, transfer, cost-sensitive loss, style relationship.
# WEIGHTS=<caffemodel> initialises every backbone's first stage (layers copied by name).  tools/paper003/README.md.
$(eval $(call paper_targets,003,table2 table3 table4 fig1 fig2))

paper003: ## paper 003: Tables II-IV, Figs. 1-2 and report.md with the claims
paper003-table2: ## paper 003 Table II: F2 per style of the three backbones and their fusion
paper003-table3: ## paper 003 Table III: fusion without / with attribute transfer learning
paper003-table4: ## paper 003 Table IV: ablation chain none -> +aug -> +transfer -> +cost-sensitive -> +relationship
paper003-fig1: ## paper 003 Fig. 1: share of images per style (our data)
paper003-fig2: ## paper 003 Fig. 2: P(A|B) heat map of the style co-occurrence (our data)
