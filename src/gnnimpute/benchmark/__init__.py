"""The benchmark: masking, metrics, peer methods, the runner and its report.

The core package (io, qc, norm, graph, inputs, model, train, api, simulate, cli) never imports
from here, so `gnnimpute impute` needs none of the benchmark's dependencies.
"""
