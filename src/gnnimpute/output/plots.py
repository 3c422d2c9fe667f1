"""Plots the core CLI writes (the training curve); matplotlib is imported only when called."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training_curve(history: dict, path: Path, *, best_epoch: int | None = None) -> Path:
    """Train and validation loss per epoch (log scale), with the restored best epoch marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (
        ("train_loss", "train (hidden entries)"),
        ("val_loss", "validation (held out)"),
    ):
        values = np.asarray(history.get(key, []), dtype=float)
        ax.plot(np.arange(1, values.size + 1), values, label=label, lw=1)
    if best_epoch:
        ax.axvline(best_epoch, color="grey", ls="--", lw=0.8, label=f"best epoch {best_epoch}")
    ax.set(
        xlabel="epoch", ylabel="MSE (normalized counts)", yscale="log", title="gnnimpute training"
    )
    handles, labels = ax.get_legend_handles_labels()
    lr = np.asarray(history.get("lr", []), dtype=float)
    if lr.size and np.ptp(lr) > 0:  # the plateau decay's steps, on their own axis
        rate = ax.twinx()
        (line,) = rate.step(np.arange(1, lr.size + 1), lr, where="post", color="tab:green",
                            lw=0.8, alpha=0.7)  # fmt: skip
        rate.set(ylabel="learning rate", yscale="log")
        handles, labels = [*handles, line], [*labels, "learning rate"]
    ax.legend(handles, labels, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
