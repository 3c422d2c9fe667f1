"""The cell graph: PCA, the kNN edges, and the neighbours' level."""
