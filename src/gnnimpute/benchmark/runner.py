"""Run every imputation method on the same held-out data and score them.

For each dataset x masking rate x seed, the counts are masked once (``gnnimpute.benchmark.mask``); every
method then receives the *same* input: a fresh AnnData holding only the masked counts and the
cell/gene names (``mask.method_input``). The TRUTH (original counts, hidden positions, labels,
simulated pre-dropout counts) stays in this process and is read only by the scoring.

Each method runs in a process of its own (``isolation``); datasets come from ``datasets``.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import TRUTH_LAYER
from ..data.norm import scale_rows, size_factors
from ..errors import InputError
from . import clustering as C
from . import metrics as M
from .datasets import DEFAULT_LABEL_KEYS, Dataset, load_dataset, marker_genes
from .isolation import _resources, run_in_process, run_isolated
from .mask import make_mask_pair, make_split_pair, method_input
from .methods import DEFAULT_METHODS, PEERS, REGISTRY, Method, get_method

ROWS_FILE = "rows.jsonl"


CACHE_DIR = "cache"


@dataclass
class BenchmarkConfig:
    datasets: Sequence[str]
    out: Path
    methods: Sequence[str | Method] = DEFAULT_METHODS
    rates: Sequence[float] = (0.1,)
    seeds: Sequence[int] = (0, 1, 2)
    train_fracs: Sequence[float] = ()
    label_keys: Sequence[str] = DEFAULT_LABEL_KEYS
    k: int = 5
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    isolate: bool = True
    timeout_s: float | None = None
    leiden: bool = True
    plots: bool = True
    resume: bool = False
    command: str | None = None
    stage: str | None = None  # "development" or "confirmation": the README section's title
    log: Callable[[str], None] | None = print


def resolve_methods(names: Iterable[str | Method]) -> list[Method]:
    out: list[Method] = []
    for n in names:
        if isinstance(n, Method):
            out.append(n)
        elif n == "all":
            out.extend(REGISTRY.values())
        elif n == "peers":
            out.extend(REGISTRY[p] for p in PEERS)
        else:
            out.append(get_method(n))
    seen: set[str] = set()
    return [m for m in out if not (m.name in seen or seen.add(m.name))]


def _save_cache(path: Path, pcs: np.ndarray | None, expr, gene_idx: np.ndarray | None):
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, np.ndarray] = {}
    if pcs is not None:
        data["pcs"] = np.asarray(pcs, dtype=np.float32)
    if gene_idx is not None and gene_idx.size:
        block = expr[:, gene_idx]
        data["markers"] = np.asarray(block.toarray() if sp.issparse(block) else block, np.float32)
    np.savez_compressed(path, **data)


def _row_key(row: dict) -> tuple:
    return (
        row["dataset"], row["protocol"], _fmt(row.get("rate")), _fmt(row.get("train_frac")),
        row.get("seed"), row["method"],
    )  # fmt: skip


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{float(x):g}"


def read_rows(out: Path) -> list[dict]:
    path = Path(out) / ROWS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class _Runner:
    def __init__(self, cfg: BenchmarkConfig):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.rows_path = self.out / ROWS_FILE
        if not cfg.resume and self.rows_path.exists():
            self.rows_path.unlink()
        self.done = {_row_key(r) for r in read_rows(self.out)} if cfg.resume else set()
        self.methods = resolve_methods(cfg.methods)
        self.tmp = Path(tempfile.mkdtemp(prefix="gnnimpute_bench_"))

    def log(self, msg: str):
        if self.cfg.log is not None:
            self.cfg.log(msg)

    def emit(self, row: dict):
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()
        }
        with self.rows_path.open("a") as fh:
            fh.write(json.dumps(clean, default=_json_default) + "\n")

    def options_text(self, method: Method) -> str:
        """The non-default options a row was run with (``--set``), so a table says so."""
        opts = self.cfg.method_options.get(method.name) or {}
        return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(opts.items()))

    def run_method(self, method: Method, inp: ad.AnnData, in_path: Path | None, seed: int) -> dict:
        opts = dict(self.cfg.method_options.get(method.name, {}))
        if self.cfg.isolate:
            assert in_path is not None
            return run_isolated(
                method, in_path, self.tmp, seed, self.cfg.k, opts, self.cfg.timeout_s
            )
        return run_in_process(method, inp, seed, self.cfg.k, opts)

    def run(self) -> list[dict]:
        try:
            for spec in self.cfg.datasets:
                self.log(f"[benchmark] loading {spec}")
                ds = load_dataset(spec, self.cfg.label_keys)
                self.run_dataset(ds)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return read_rows(self.out)

    def run_dataset(self, ds: Dataset):
        cfg = self.cfg
        adata = ds.adata
        labels = adata.obs[ds.label_key].to_numpy() if ds.label_key else None
        cache = self.out / CACHE_DIR / ds.name
        gene_idx = None
        if labels is not None and cfg.plots:
            genes = marker_genes(adata, labels)
            gene_idx = adata.var_names.get_indexer(genes)
            cache.mkdir(parents=True, exist_ok=True)
            (cache / "markers.json").write_text(json.dumps({"genes": genes}))
            np.save(cache / "labels.npy", labels.astype(str))
        base = {"dataset": ds.name, "n_cells": adata.n_obs, "n_genes": adata.n_vars,
                "label_key": ds.label_key}  # fmt: skip
        # reference: clustering of the original, unmasked counts
        ref = {**base, "protocol": "reference", "rate": None, "train_frac": None, "seed": 0,
               "method": "unmasked", "status": "ok"}  # fmt: skip
        if _row_key(ref) not in self.done:
            norm = scale_rows(adata.X, size_factors(adata.X))
            pcs = None
            if labels is not None:
                pcs = C.log_pca(norm, seed=0)
                ref.update(C.clustering_metrics(norm, labels, seed=0, leiden=cfg.leiden, pcs=pcs))
            if cfg.plots:
                _save_cache(cache / "unmasked.npz", pcs, norm, gene_idx)
            self.emit(ref)
        for i_rate, rate in enumerate(cfg.rates):
            for i_seed, seed in enumerate(cfg.seeds):
                plot_this = cfg.plots and i_rate == 0 and i_seed == 0
                self.run_mask(ds, base, labels, rate, seed, cache if plot_this else None, gene_idx)
        for frac in cfg.train_fracs:
            for seed in cfg.seeds:
                self.run_split(ds, base, frac, seed)

    def _pending(self, base: dict, protocol: str, rate, frac, seed) -> list[Method]:
        todo = []
        for m in self.methods:
            key = _row_key({**base, "protocol": protocol, "rate": rate, "train_frac": frac,
                            "seed": seed, "method": m.name})  # fmt: skip
            if key not in self.done:
                todo.append(m)
        return todo

    def _write_input(self, inp: ad.AnnData) -> Path | None:
        if not self.cfg.isolate:
            return None
        path = self.tmp / "input.h5ad"
        inp.write_h5ad(path)
        return path

    def run_mask(self, ds, base, labels, rate, seed, cache: Path | None, gene_idx):
        todo = self._pending(base, "mask", rate, None, seed)
        if not todo:
            return
        masked, truth = make_mask_pair(ds.adata, rate, seed)
        info = truth.uns["mask"]
        inp = method_input(masked.X, masked.obs_names, masked.var_names)
        in_path = self._write_input(inp)
        for method in todo:
            self.log(f"[benchmark] {ds.name} mask rate={rate:g} seed={seed} {method.name} ...")
            res = self.run_method(method, inp, in_path, seed)
            row = {**base, "protocol": "mask", "rate": float(rate), "train_frac": None,
                   "seed": int(seed), "method": method.name,
                   "options": self.options_text(method)}  # fmt: skip
            row.update(_resources(res))
            for name, out in _outputs(method, res):
                scored = {**row, "method": name}
                if out is not None:
                    try:
                        scored.update(
                            M.mask_metrics(out, truth.X, masked.X, info["rows"], info["cols"])
                        )
                        if ds.simulated:
                            scored.update(M.truth_metrics(out, truth.layers[TRUTH_LAYER], truth.X))
                        pcs = None
                        if labels is not None:
                            pcs = C.log_pca(out, seed=seed)
                            scored.update(
                                C.clustering_metrics(
                                    out, labels, seed=seed, leiden=self.cfg.leiden, pcs=pcs
                                )
                            )
                        embedding = res.get("embedding") if name == method.name else None
                        if labels is not None and embedding is not None:
                            scored.update(embedding_clustering(embedding, labels, seed, self.cfg))
                        if cache is not None:
                            _save_cache(cache / f"{name}.npz", pcs, out, gene_idx)
                    except InputError as exc:
                        scored.update(status="failed", reason=f"scoring: {exc}")
                self.log(f"[benchmark]   -> {_summary(scored)}")
                self.emit(scored)

    def run_split(self, ds, base, frac, seed):
        todo = self._pending(base, "split", None, frac, seed)
        if not todo:
            return
        train, test = make_split_pair(ds.adata, frac, seed)
        inp = method_input(train.X, train.obs_names, train.var_names)
        in_path = self._write_input(inp)
        lib = test.uns["mask"]["train_library_size"]
        for method in todo:
            self.log(
                f"[benchmark] {ds.name} split train_frac={frac:g} seed={seed} {method.name} ..."
            )
            res = self.run_method(method, inp, in_path, seed)
            row = {**base, "protocol": "split", "rate": None, "train_frac": float(frac),
                   "seed": int(seed), "method": method.name,
                   "options": self.options_text(method)}  # fmt: skip
            row.update(_resources(res))
            for name, out in _outputs(method, res):
                scored = {**row, "method": name}
                if out is not None:
                    scored.update(M.mcv_metrics(out, test.X, lib))
                self.log(f"[benchmark]   -> {_summary(scored)}")
                self.emit(scored)


def _outputs(method: Method, res: dict) -> list[tuple[str, object]]:
    """(row name, layer) per output of one run: the method's layer, then its extra layers.

    A failed run gives one row with no layer; extra layers share the run's time and memory.
    """
    if res["status"] != "ok":
        return [(method.name, None)]
    extras = res.get("extras") or {}
    return [(method.name, res["out"])] + [(f"{method.name}_{n}", x) for n, x in extras.items()]


def embedding_clustering(embedding, labels, seed: int, cfg) -> dict:
    """Clustering scores of a method's own embedding (k-means and Leiden on it directly)."""
    scores = C.clustering_metrics(None, labels, seed=seed, leiden=cfg.leiden, pcs=embedding)
    keys = ("ari_kmeans", "nmi_kmeans", "ari_leiden", "nmi_leiden")
    return {f"{k}_embedding": scores[k] for k in keys if k in scores}


def _summary(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('reason')}"
    keys = ("mse", "pcc", "ari_kmeans", "mcv_mse", "mcv_poisson", "wall_s", "peak_rss_mb")
    return ", ".join(f"{k}={row[k]:.4g}" for k in keys if row.get(k) is not None)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def run_benchmark(cfg: BenchmarkConfig) -> pd.DataFrame:
    """Run the benchmark, then write the tables, plots, report.html and README_section.md."""
    rows = _Runner(cfg).run()
    from .report import write_report

    df = pd.DataFrame(rows)
    write_report(df, Path(cfg.out), command=cfg.command, plots=cfg.plots, stage=cfg.stage)
    return df
