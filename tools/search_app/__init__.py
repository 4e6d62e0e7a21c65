"""Paper 004's fashion search as a web app (issue 16): pick or upload a query, see its predicted
attributes, change special attributes, browse the top-k results, give relevance feedback.

    make search-demo                    # or: python -m tools.search_app --scale tiny --port 8004

model.py (train / export / evaluate when missing, the model card) · catalogue.py (gallery, queries,
cached features, the FashionSearch) · shoppers.py (per-shopper state) · server.py (Flask page + API)
· __main__.py (the command).
"""
