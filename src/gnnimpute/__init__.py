"""GNNImpute: graph-attention autoencoder imputation of scRNA-seq dropout."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gnnimpute")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__", "impute", "simulate_splat"]


def __getattr__(name: str):
    # Lazy, so `gnnimpute --version` and `--help` do not pay for importing torch.
    if name == "impute":
        from .api import impute

        return impute
    if name == "simulate_splat":
        from .data.simulate import simulate_splat

        return simulate_splat
    raise AttributeError(f"module 'gnnimpute' has no attribute {name!r}")
