"""GNNImpute: graph-attention autoencoder imputation of scRNA-seq dropout."""

from importlib.metadata import PackageNotFoundError, version

from .api import impute
from .simulate import simulate_splat

try:
    __version__ = version("gnnimpute")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = ["__version__", "impute", "simulate_splat"]
