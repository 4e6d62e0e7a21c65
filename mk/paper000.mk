# Paper 000 (Li et al., "Improving Deep CNNs for Real-world Clothing Image"): multi-label vs
# multi-task vs multi-weight AlexNets, mAP@50 per attribute group.  tools/paper000/README.md.
$(eval $(call paper_targets,000,table2 table3 table4 table5 fig2))

paper000: ## paper 000: every table, Fig. 2 and report.md with the claims
paper000-table2: ## paper 000 Table II: mAP@50 per group, multi-label vs multi-task vs multi-weight AlexNet
paper000-table3: ## paper 000 Table III: Table II plus the eq. 11 "1/3 ratio" smoothed weights
paper000-table4: ## paper 000 Table IV: Coat vs Pantsuit at a 10:1 ratio
paper000-table5: ## paper 000 Table V: Length of Sleeve vs Sleeve at a 10:1 ratio
paper000-fig2: ## paper 000 Fig. 2: per-group mAP@50 bars of the four methods
