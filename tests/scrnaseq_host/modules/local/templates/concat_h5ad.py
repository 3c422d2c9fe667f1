#!/usr/bin/env python3
# The concatenation of nf-core/scrnaseq 4.0.0's CONCAT_H5AD (modules/local/templates/
# concat_h5ad.py at tag 4.0.0, commit e0ddddbff9d8b8c2421c67ff07449a06f9ca02d2), restated:
# every staged *.h5ad keyed by its name without "_matrix.h5ad", anndata.concat with
# label="sample", merge="unique", index_unique="_" and anndata's defaults otherwise (an inner
# join of genes, layers and obsm keys; uns dropped), then the samplesheet's columns joined on
# "sample" (replicate rows collapsed with commas) and every obs column cast to str.
# A Nextflow template: the placeholders are filled in by the task.
import os

os.environ["NUMBA_CACHE_DIR"] = "."

from pathlib import Path

import anndata as ad
import pandas as pd


def read_samplesheet(path):
    sheet = pd.read_csv(path)
    return sheet.groupby(["sample"]).agg(lambda column: ",".join(set(column.astype(str))))


samples = {
    str(p).replace("_matrix.h5ad", ""): ad.read_h5ad(p) for p in sorted(Path(".").rglob("*.h5ad"))
}
combined = ad.concat(samples, label="sample", merge="unique", index_unique="_")
combined.obs = combined.obs.join(
    read_samplesheet("${samplesheet}"), on="sample", how="left"
).astype(str)
combined.write_h5ad("${meta.id}_${meta.input_type}_matrix.h5ad")
with open("versions.yml", "w") as fh:
    fh.write('"${task.process}":\\n    anndata: ' + ad.__version__ + "\\n")
