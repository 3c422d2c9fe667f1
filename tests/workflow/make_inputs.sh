#!/usr/bin/env bash
# Makes small inputs for the pipeline tests with `gnnimpute simulate`, in ./inputs:
#   inputs/sampleA.h5ad, inputs/sampleB.h5ad
#   inputs/samplesheet.csv          (sample,h5ad; paths relative to the sheet)
#   inputs/samplesheet_missing.csv  (second sample points at a file that does not exist)
#   and the sheets of the error, clash and resume tests below
# Usage: bash tests/workflow/make_inputs.sh [--fake]
#   --fake: write empty .h5ad placeholders instead (enough for -stub-run)
set -euo pipefail
mkdir -p inputs
if [[ "${1:-}" == --fake ]]; then
    : > inputs/sampleA.h5ad
    : > inputs/sampleB.h5ad
else
    gnnimpute simulate inputs/sampleA.h5ad --cells 150 --genes 200 --groups 2 --seed 1
    gnnimpute simulate inputs/sampleB.h5ad --cells 120 --genes 200 --groups 3 --seed 2
    # the counts in layers['counts'] and log-normalised values in X, as many pipelines write them
    python3 -c 'import sys, anndata as ad, numpy as np
a = ad.read_h5ad(sys.argv[1]); a.layers["counts"] = a.X.copy(); a.X = a.X.copy(); a.X.data = np.log1p(a.X.data)
a.write_h5ad(sys.argv[2])' inputs/sampleA.h5ad inputs/sampleA_layers.h5ad
fi
printf 'sample,h5ad,layer\nsampleL,sampleA_layers.h5ad,counts\n' > inputs/samplesheet_layer.csv
printf 'sample,h5ad\nsampleA,sampleA.h5ad\nsampleB,sampleB.h5ad\n' > inputs/samplesheet.csv
printf 'sample,h5ad\nsampleA,sampleA.h5ad\nsampleB,not_there.h5ad\n' > inputs/samplesheet_missing.csv
printf 'name,path\nsampleA,sampleA.h5ad\n' > inputs/samplesheet_badheader.csv
# issue 11: a customer's label_key that would run a shell command
printf 'sample,h5ad,label_key\nS1,sampleA.h5ad,group --help;touch PWNED;echo\n' > inputs/samplesheet_injection.csv
# saved by Excel: byte-order mark, CRLF, quoted fields; the second path has a comma in a folder name
mkdir -p "inputs/run 1,2"
cp inputs/sampleB.h5ad "inputs/run 1,2/sampleB.h5ad"
printf '\xef\xbb\xbfsample,h5ad,label_key\r\nsampleA,"sampleA.h5ad",group\r\n"sampleB","run 1,2/sampleB.h5ad","group"\r\n' > inputs/samplesheet_excel.csv
# sample names that differ only by case: their outputs would clash on macOS and Windows disks
printf 'sample,h5ad\nS1,sampleA.h5ad\ns1,sampleB.h5ad\n' > inputs/samplesheet_case.csv
# an input whose name is the output name of its sample (S1 -> S1_imputed.h5ad)
cp inputs/sampleA.h5ad inputs/S1_imputed.h5ad
# and a sample named 7, which a CSV reader may take for a number
printf 'sample,h5ad\nS1,S1_imputed.h5ad\n7,sampleB.h5ad\n' > inputs/samplesheet_clash.csv
# the samplesheet.csv samples with a label_key column: only the evaluation changes
printf 'sample,h5ad,label_key\nsampleA,sampleA.h5ad,cell_type\nsampleB,sampleB.h5ad,cell_type\n' > inputs/samplesheet_labels.csv
