"""The benchmark's figures: metric bars and lines, embeddings and marker heat maps (matplotlib on demand)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .methods import PEERS
from .summary import MAIN, MASK_METRICS, SPLIT_METRICS, _method_order
from .tables import _is_main


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_bars(s: pd.DataFrame, dataset: str, rate: float, path: Path) -> bool:
    sub = s[
        (s["dataset"] == dataset)
        & (s["protocol"] == "mask")
        & np.isclose(s["rate"].astype(float), rate)
        & (s["n_ok"] > 0)
    ]
    metrics = [m for m in MASK_METRICS if m[0] in sub and sub[m[0]].notna().any()]
    if sub.empty or not metrics:
        return False
    plt = _plt()
    order = [m for m in _method_order(sub["method"]) if m != "unmasked"]
    sub = sub.set_index("method").loc[order]
    ncol = 4
    nrow = math.ceil(len(metrics) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    colors = [
        "tab:red" if _is_main(m) else ("tab:blue" if m in PEERS else "tab:gray") for m in order
    ]
    for ax, (c, lab, hib) in zip(axes.ravel(), metrics, strict=False):
        ax.bar(
            range(len(order)),
            sub[c].to_numpy(float),
            yerr=sub[c + "_sd"].fillna(0).to_numpy(float),
            color=colors,
            capsize=2,
        )
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(order, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{lab} ({'higher' if hib else 'lower'} is better)", fontsize=9)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    fig.suptitle(f"{dataset}: masking rate {rate:g} (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_lines(s: pd.DataFrame, dataset: str, protocol: str, path: Path) -> bool:
    col = "rate" if protocol == "mask" else "train_frac"
    metrics = [m for m in MASK_METRICS[:4] if protocol == "mask"] + [
        m for m in SPLIT_METRICS if protocol == "split"
    ]
    sub = s[(s["dataset"] == dataset) & (s["protocol"] == protocol) & (s["n_ok"] > 0)]
    metrics = [m for m in metrics if m[0] in sub and sub[m[0]].notna().any()]
    if sub.empty or not metrics:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, (c, lab, hib) in zip(axes[0], metrics, strict=True):
        for m in _method_order(sub["method"]):
            g = sub[sub["method"] == m].sort_values(col)
            ax.errorbar(
                g[col],
                g[c],
                yerr=g[c + "_sd"].fillna(0),
                marker="o",
                ms=3,
                label=m,
                lw=2.2 if m == MAIN else 1,
            )
        ax.set_xlabel("masking rate" if protocol == "mask" else "training fraction")
        ax.set_title(f"{lab} ({'higher' if hib else 'lower'} is better)", fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(
        f"{dataset}: {'metric against masking (dropout) rate' if protocol == 'mask' else 'molecular cross-validation, training-fraction sweep'}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _panels(cache: Path) -> list[tuple[str, Path]]:
    names = [p.stem for p in cache.glob("*.npz")]
    return [(n, cache / f"{n}.npz") for n in _method_order(names)]


def _label_colors(labels: np.ndarray):
    plt = _plt()
    cats = sorted(set(labels))
    cmap = plt.get_cmap("tab20" if len(cats) > 10 else "tab10")
    return cats, {c: cmap(i % cmap.N) for i, c in enumerate(cats)}


def plot_embeddings(cache: Path, dataset: str, path: Path, seed: int = 0) -> bool:
    """t-SNE of the PCA of log1p(values): unmasked, after masking ('none'), after each method."""
    from sklearn.manifold import TSNE

    if not (cache / "labels.npy").exists():
        return False
    labels = np.load(cache / "labels.npy", allow_pickle=False)
    panels = [(n, p) for n, p in _panels(cache) if "pcs" in np.load(p).files]
    if not panels:
        return False
    plt = _plt()
    cats, colors = _label_colors(labels)
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.4 * nrow), squeeze=False)
    c = [colors[x] for x in labels]
    for ax, (name, p) in zip(axes.ravel(), panels, strict=False):
        pcs = np.load(p)["pcs"]
        perp = float(min(30, max(5, (pcs.shape[0] - 1) / 3)))
        emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(
            pcs
        )
        ax.scatter(emb[:, 0], emb[:, 1], c=c, s=3, linewidths=0)
        title = {
            "unmasked": "no imputation (unmasked)",
            "none": "after masking (no imputation)",
        }.get(name, f"imputed: {name}")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colors[k], label=k) for k in cats]
    fig.legend(
        handles=handles, loc="lower center", ncol=min(len(cats), 7), fontsize=7, frameon=False
    )
    fig.suptitle(f"{dataset}: t-SNE coloured by label (first rate, first seed)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_markers(cache: Path, dataset: str, path: Path) -> bool:
    """Heat map of the top marker genes per label (cells sorted by label), before and after."""
    mfile = cache / "markers.json"
    if not mfile.exists() or not (cache / "labels.npy").exists():
        return False
    genes = json.loads(mfile.read_text())["genes"]
    labels = np.load(cache / "labels.npy", allow_pickle=False)
    panels = [(n, p) for n, p in _panels(cache) if "markers" in np.load(p).files]
    if not panels or not genes:
        return False
    plt = _plt()
    order = np.argsort(labels, kind="stable")
    ncol = min(4, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.0 * ncol, 4.2 * nrow), squeeze=False)
    bounds = np.flatnonzero(labels[order][1:] != labels[order][:-1]) + 0.5
    for ax, (name, p) in zip(axes.ravel(), panels, strict=False):
        X = np.log1p(np.maximum(np.load(p)["markers"][order], 0))
        lo, hi = X.min(axis=0), X.max(axis=0)
        X = (X - lo) / np.where(hi > lo, hi - lo, 1)
        ax.imshow(X, aspect="auto", interpolation="nearest", cmap="viridis")
        for b in bounds:
            ax.axhline(b, color="white", lw=0.4)
        title = {"unmasked": "before masking", "none": "after masking"}.get(
            name, f"imputed: {name}"
        )
        ax.set_title(title, fontsize=9)
        ax.set_yticks([])
        if len(genes) <= 45:
            ax.set_xticks(range(len(genes)))
            ax.set_xticklabels(genes, rotation=90, fontsize=5)
        else:
            ax.set_xticks([])
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{dataset}: top marker genes per label (log1p, scaled per gene; cells sorted by label)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
