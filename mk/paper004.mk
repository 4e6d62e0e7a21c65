# Paper 004 (Ak et al., "Efficient multi-attribute similarity learning towards attribute-based fashion
# search"): part-based AlexNet vs w/o parts, w/o parts & ranking, classic and AMNet.  tools/paper004/README.md.
$(eval $(call paper_targets,004,fig6 table2 later))

paper004: ## paper 004: Fig. 6, Table 2, the later-work protocol and report.md with the claims
paper004-fig6: ## paper 004 Fig. 6: top-k retrieval accuracy, direct (a) and after manipulation (b)
paper004-table2: ## paper 004 Table 2: top-20 accuracy per manipulated attribute, five methods
paper004-later: ## paper 004 later-work protocol: top-30 accuracy and NDCG@30 (not the paper's)
