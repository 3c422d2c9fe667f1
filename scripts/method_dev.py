"""Development-split measurements for the choice of the default output (docs/method.md).

Development data only: Baron and PBMC 4k, mask seeds 0-2 (10 % of each gene's non-zeros hidden)
and a molecular cross-validation split (train fraction 0.9, seed 0). One gnnimpute training per
(data set, mask) and variant; every blend of its level and detection layers is scored on the
same output, beside the peers (no imputation, kNN averaging k = 15, the kNN level baseline,
MAGIC for MCV). Rows are appended to OUT/rows.csv; rerunning skips rows already there.

    python scripts/method_dev.py --variant hurdle                      # the hurdle decoder
    python scripts/method_dev.py --variant level --set decoder=level   # the level-only model
    python scripts/method_dev.py --summary                             # mean over seeds
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import gnnimpute
from gnnimpute.benchmark import clustering as C
from gnnimpute.benchmark import metrics as M
from gnnimpute.benchmark.datasets import load_dataset
from gnnimpute.benchmark.mask import make_mask_pair, make_split_pair, method_input
from gnnimpute.benchmark.methods import get_method
from gnnimpute.data.norm import log1p, scale_rows, size_factors
from gnnimpute.graph.knn import knn_indices, neighbourhood_detection, pca
from gnnimpute.output.blend import blend

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = {
    "baron": "baron_mouse_pancreas.h5ad",
    "pbmc": "pbmc4k_top2000.h5ad",
    "sim2": "sim2:1000x2000",  # Splat, 2 groups (the development benchmark's size)
    "sim6": "sim6:1000x2000",  # Splat, 6 groups
    "worm": "worm_neurons.h5ad",  # confirmation only: never choose anything on it
}
BLENDS = [
    "level", "expected", "power:0.1", "power:0.25", "power:0.5",
    "gate:40,0.1", "gate:20,0.2", "gate:40,0.3",
    "keep:expected", "keep:power:0.5", "keep:gate:40,0.1", "keep:level",
]  # fmt: skip
PEERS = ["none", "knn", "knn_level"]


def _opt(text: str):
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _done(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    df = pd.read_csv(path)
    return set(zip(df.dataset, df.protocol, df.seed, df.method, strict=True))


def _emit(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)
    print(json.dumps({k: row.get(k) for k in COLUMNS if row.get(k) is not None}), flush=True)


COLUMNS = [
    "dataset", "protocol", "seed", "method", "wall_s", "mse", "pcc", "ari_kmeans", "ari_leiden",
    "nmi_kmeans", "nmi_leiden", "mcv_mse", "mcv_poisson", "best_epoch", "epochs_run",
    "mcv_poisson_nll",
]  # fmt: skip


def _score_mask(out, truth, masked, labels, seed) -> dict:
    info = truth.uns["mask"]
    row = M.mask_metrics(out, truth.X, masked.X, info["rows"], info["cols"])
    row.update(C.clustering_metrics(out, labels, seed=seed))
    return row


def _score_embedding(z, labels, seed) -> dict:
    return C.clustering_metrics(None, labels, seed=seed, pcs=np.asarray(z, dtype=np.float32))


def neighbourhood_share(counts, seed: int, k: int = 15) -> np.ndarray:
    """The share of a cell and its k neighbours detecting each gene (the previous shrink's d)."""
    norm = scale_rows(counts, size_factors(counts))
    pcs, _ = pca(log1p(norm), 50, random_state=seed)
    d = neighbourhood_detection(counts, knn_indices(pcs, k, random_state=seed))
    return (d * (k + 1) + 1) / (k + 2)


def run(args) -> None:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows_path = out_dir / "rows.csv"
    done = _done(rows_path)
    options = dict(_opt(o) for o in args.set)
    options.setdefault("progress", False)
    blends = args.blends.split(";") if args.blends else BLENDS
    for name in args.datasets.split(","):
        spec = DATASETS[name]
        ds = load_dataset(spec if spec.startswith("sim") else str(DATA / spec))
        labels = ds.adata.obs[ds.label_key].to_numpy()
        for seed in [int(s) for s in args.seeds.split(",")]:
            masked, truth = make_mask_pair(ds.adata, 0.1, seed)
            inp = method_input(masked.X, masked.obs_names, masked.var_names)
            observed = scale_rows(masked.X, size_factors(masked.X))  # what keep: blends keep
            base = {"dataset": name, "protocol": "mask", "seed": seed}
            peer_out = {}
            for peer in PEERS if args.peers else []:
                if (name, "mask", seed, peer) in done and not (args.mix and peer == "knn_level"):
                    continue
                t = time.perf_counter()
                out = peer_out[peer] = get_method(peer)(inp, seed=seed)
                if (name, "mask", seed, peer) in done:
                    continue
                row = {**base, "method": peer, "wall_s": time.perf_counter() - t}
                _emit(rows_path, {**row, **_score_mask(out, truth, masked, labels, seed)})
            if args.variant is None or (name, "mask", seed, f"{args.variant}|level") in done:
                continue
            t = time.perf_counter()
            res = gnnimpute.impute(inp, copy=True, random_state=seed, **options)
            wall = time.perf_counter() - t
            info = res.uns["gnnimpute"]
            extra = {"wall_s": wall, "best_epoch": info["best_epoch"],
                     "epochs_run": info["epochs_run"]}  # fmt: skip
            level = res.layers.get("gnnimpute_level", res.layers["gnnimpute"])
            p = res.layers.get("gnnimpute_detection")
            sources = {"": p} if p is not None else {}
            if p is not None and args.share:
                sources["share"] = neighbourhood_share(masked.X, seed)
            if p is not None and args.mix:  # the model's level averaged with the kNN level
                base_level = peer_out.get("knn_level")
                if base_level is None:
                    base_level = get_method("knn_level")(inp, seed=seed)
                for spec in ["level", "gate:40,0.1", "gate:20,0.2"]:
                    y = blend(0.5 * (level + base_level), p, spec)
                    _emit(rows_path, {**base, "method": f"{args.variant}|mix|{spec}", **extra,
                                      **_score_mask(y, truth, masked, labels, seed)})  # fmt: skip
            for src, prob in sources.items():
                for spec in blends if args.variant_blends else ["level"]:
                    method = f"{args.variant}|{spec}" + (f"|{src}" if src else "")
                    if src and spec == "level":
                        continue
                    y = blend(level, prob, spec, observed=observed)
                    _emit(rows_path, {**base, "method": method, **extra,
                                      **_score_mask(y, truth, masked, labels, seed)})  # fmt: skip
            if p is None:
                _emit(rows_path, {**base, "method": f"{args.variant}|level", **extra,
                                  **_score_mask(level, truth, masked, labels, seed)})  # fmt: skip
            _emit(rows_path, {**base, "method": f"{args.variant}|default", **extra,
                              **_score_mask(res.layers["gnnimpute"], truth, masked, labels,
                                            seed)})  # fmt: skip
            _emit(rows_path, {**base, "method": f"{args.variant}|embedding", **extra,
                              **_score_embedding(res.obsm["X_gnnimpute"], labels, seed)})  # fmt: skip
        if args.mcv:
            for split_seed in [int(s) for s in args.mcv_seeds.split(",")]:
                _run_mcv(args, name, ds, options, rows_path, done, blends, split_seed)


def _run_mcv(args, name, ds, options, rows_path, done, blends, split_seed: int) -> None:
    train, test = make_split_pair(ds.adata, 0.9, split_seed)
    inp = method_input(train.X, train.obs_names, train.var_names)
    lib = test.uns["mask"]["train_library_size"]
    base = {"dataset": name, "protocol": "split", "seed": split_seed}
    for peer in ["none", "knn", "knn_level", "magic"] if args.peers else []:
        if (name, "split", split_seed, peer) in done:
            continue
        t = time.perf_counter()
        out = get_method(peer)(inp, seed=split_seed)
        row = {**base, "method": peer, "wall_s": time.perf_counter() - t}
        _emit(rows_path, {**row, **M.mcv_metrics(out, test.X, lib)})
    if args.variant is None or (name, "split", split_seed, f"{args.variant}|default") in done:
        return
    t = time.perf_counter()
    res = gnnimpute.impute(inp, copy=True, random_state=split_seed, **options)
    wall = time.perf_counter() - t
    level = res.layers.get("gnnimpute_level", res.layers["gnnimpute"])
    p = res.layers.get("gnnimpute_detection")
    observed = scale_rows(train.X, size_factors(train.X))
    for spec in (
        (blends if args.variant_blends else ["level", "expected"]) if p is not None else ["level"]
    ):
        y = level if p is None else blend(level, p, spec, observed=observed)
        _emit(rows_path, {**base, "method": f"{args.variant}|{spec}", "wall_s": wall,
                          **M.mcv_metrics(y, test.X, lib)})  # fmt: skip
    _emit(rows_path, {**base, "method": f"{args.variant}|default", "wall_s": wall,
                      **M.mcv_metrics(res.layers["gnnimpute"], test.X, lib)})  # fmt: skip


def summary(out: str, seeds: list[int] | None = None) -> None:
    """Mean ± sd over the seeds run, one markdown table per data set (masking, then MCV).

    A difference inside the spread (no larger than the larger sd) is not a win."""
    df = pd.read_csv(Path(out) / "rows.csv")
    if seeds is not None:  # compare on the same masks only
        df = df[df["seed"].isin(seeds) | (df["protocol"] == "split")]
    print("Mean ± sd over the seeds; a difference inside the spread is not a win.")
    for (name, protocol), sub in df.groupby(["dataset", "protocol"], sort=False):
        cols = (["mse", "pcc", "ari_kmeans", "ari_leiden"] if protocol == "mask"
                else ["mcv_poisson_nll", "mcv_mse", "mcv_poisson"])  # fmt: skip
        cols = [c for c in cols if c in sub]
        g = sub.groupby("method", sort=False)
        mean, sd, n = g[cols].mean(), g[cols].std(ddof=1), g.size()
        seeds = g["seed"].apply(lambda s: ",".join(str(v) for v in sorted(s.unique())))
        print(f"\n{name}, {protocol}\n")
        print("| method | " + " | ".join(cols) + " | seeds |")
        print("|---|" + "---:|" * len(cols) + "---|")
        for m in mean.index:
            vals = " | ".join(_mean_sd(mean.loc[m, c], sd.loc[m, c]) for c in cols)
            print(f"| {m} | {vals} | {seeds[m]} ({n[m]}) |")


def _mean_sd(mean: float, sd: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.4g}" + ("" if pd.isna(sd) else f" ± {sd:.2g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/method_dev")
    ap.add_argument("--datasets", default="baron,pbmc")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variant", default=None, help="name of the gnnimpute variant's rows")
    ap.add_argument("--set", action="append", default=[], help="impute option, key=json")
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--no-blends", dest="variant_blends", action="store_false")
    ap.add_argument("--share", action="store_true", help="also blend the neighbourhood share")
    ap.add_argument("--mix", action="store_true", help="also the level averaged with knn_level")
    ap.add_argument("--mcv", action="store_true", help="also the MCV split (0.9)")
    ap.add_argument("--mcv-seeds", default="0", help="split seeds of --mcv")
    ap.add_argument("--blends", default=None, help="';'-separated blends (default: BLENDS)")
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--only-seeds", action="store_true", help="summary of --seeds alone")
    args = ap.parse_args()
    if args.summary:
        summary(args.out, [int(s) for s in args.seeds.split(",")] if args.only_seeds else None)
    else:
        run(args)


if __name__ == "__main__":
    main()
