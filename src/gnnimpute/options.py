"""The options of one imputation: a frozen dataclass per concern, the only place a default is written.

The API, the CLI (its defaults and help), the presets and `uns['gnnimpute']['params']` all read
these classes, so changing a default here changes it everywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .validate import check_float

ENCODER_INPUTS = ("pca", "genes")
DECODERS = ("hurdle", "level")
LAYER_TYPES = ("gat", "gcn")


def _whole(name: str, value, low: int, *, allow_none: bool = False) -> None:
    """A whole number >= low (bool is not a number here); the message names the option."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        flag = "--" + name.replace("_", "-")
        raise InputError(f"{name} ({flag}) must be a whole number >= {low}, got {value!r}")


def _choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {choices}, got {value!r}")


def _floats(options, *names: str) -> None:
    for name in names:
        check_float(name, getattr(options, name))


@dataclass(frozen=True, kw_only=True)
class GraphOptions:
    """The cell graph: a kNN graph on the first principal components of the log-normalized counts.

    Attributes
    ----------
    k, n_pcs
        Neighbours per cell in the graph the encoder runs on, found among the first `n_pcs`
        principal components.
    detection_k
        The neighbourhood of the no-training level (`OutputOptions.level_mix`) and of the level
        decoder's shrink (`OutputOptions.detection_shrink`).
    """

    k: int = 5  # neighbours per cell in the graph the encoder runs on
    n_pcs: int = 50  # principal components the neighbours are found in
    detection_k: int = 15  # the neighbourhood of the no-training level and the level shrink

    def __post_init__(self):
        _whole("k", self.k, 1)
        _whole("n_pcs", self.n_pcs, 2)
        _whole("detection_k", self.detection_k, 1)


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """The autoencoder: what the encoder reads, its GAT layers, and the decoder's heads.

    Attributes
    ----------
    encoder_input, n_input
        What the encoder reads: "pca", the log-normalized counts of all genes projected on their
        first `n_input` principal axes (fixed; hidden entries are subtracted), or "genes", the
        log-normalized counts of the `n_input` most variable genes (all if None). The decoder
        always predicts every gene.
    attn_dropout
        Dropout on the attention coefficients.
    decoder
        "hurdle" (default): the decoder has two per-gene heads, the level a gene has where it is
        detected (MSE at hidden non-zeros) and P(detected) (cross-entropy on the entries the
        encoder sees as zero: observed zeros, label 0, weighted by the hiding rate, and hidden
        non-zeros, label 1), the latter weighted by `detection_weight` on the level loss's
        scale. Both go to `layers[key_added + '_level']` and `layers[key_added +
        '_detection']`; `layers[key_added]` is level x g(p), g given by `blend` (see
        `gnnimpute.output.blend`: level, expected, power:x, gate:a,b; keep:SPEC, the default
        keep:expected, keeps the observed normalized counts and fills only the zeros with
        SPEC's value, so clustering keeps what the data show). "level": the level head alone,
        shrunk by `detection_shrink`, without a detection head.
    """

    encoder_input: str = "pca"  # "pca": fixed projections of all genes; "genes": the top genes
    n_input: int | None = 100  # principal axes or genes the encoder reads (None: all genes)
    heads: int = 3
    layer_type: str = "gat"  # "gcn" is the no-attention ablation
    hidden: tuple[int, int] = (256, 50)  # hidden layer, bottleneck
    dropout: float = 0.1
    attn_dropout: float = 0.0
    decoder: str = "hurdle"  # "hurdle": level where detected and P(detected); "level": one head

    def __post_init__(self):
        _choice("encoder_input", self.encoder_input, ENCODER_INPUTS)
        _choice("layer_type", self.layer_type, LAYER_TYPES)
        _choice("decoder", self.decoder, DECODERS)
        _whole("n_input", self.n_input, 1, allow_none=True)
        _whole("heads", self.heads, 1)
        hidden = tuple(self.hidden)
        if len(hidden) != 2:
            raise InputError(f"hidden must be two sizes (hidden layer, bottleneck), got {hidden}")
        for size in hidden:
            _whole("hidden", size, 1)
        object.__setattr__(self, "hidden", hidden)
        _floats(self, "dropout", "attn_dropout")


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """Self-supervised training: what is hidden, the optimiser, and when to stop.

    Attributes
    ----------
    weight_decay
        Adam's weight decay.
    detection_weight
        Weight of the detection cross-entropy beside the level loss (hurdle decoder).
    zero_weight
        Weight of an observed zero (target 0) relative to a hidden non-zero in the loss. 0 fits
        the value a count has when it is detected; larger values pull genes that are off in a
        context towards 0, which helps clustering and costs accuracy on hidden counts.
    val_seed
        None: the validation split is drawn from `random_state` with everything else. A number
        draws the split alone from it, every other draw of the run unchanged: it measures how
        much a result depends on which entries were held out.
    lr_patience, lr_factor
        After `lr_patience` epochs without a counted gain (and every `lr_patience` more), the
        learning rate is multiplied by `lr_factor`; 0 keeps it constant.
    patience, min_delta
        Training stops `patience` epochs after the last real improvement: a validation loss at
        least `min_delta` (a share, e.g. 0.01 = 1 %) below the loss at the improvement before.
        The weights returned are always those of the best-scoring epoch.
    ema_decay
        If > 0, return an exponential moving average of the weights (validated in eval mode).
        Off by default: on the development data it helped PBMC a little, hurt Baron and doubled
        the epochs.
    batch_cells
        Seed cells per mini-batch (each trained with its 2-hop neighbourhood); 0 or None trains
        full-batch; "auto" switches to mini-batches where full-batch would be slower or too big.
    loss_cells
        Full-batch training only: cells whose loss is scored per epoch, a fresh random sample
        each epoch (the encoder still runs on every cell); 0 or None scores every cell; "auto"
        is 16,384 on a CPU (no effect on smaller data) and every cell on a GPU.
    """

    epochs: int = 3000  # the most epochs; the stopping rule ends most runs far earlier
    patience: int = 30
    min_delta: float = 0.0  # relative gain in validation loss that counts for `patience`
    lr: float = 3e-3
    lr_patience: int = 10  # > 0: multiply lr by lr_factor after this many epochs without a gain
    lr_factor: float = 0.5
    weight_decay: float = 0.0
    detection_weight: float = 1.0
    mask_rate: float = 0.1
    val_rate: float = 0.05
    val_seed: int | None = None  # set: the validation split alone is drawn from this seed
    gene_batch: int = 1024
    zero_weight: float = 0.0
    ema_decay: float = 0.0
    batch_cells: int | str | None = "auto"  # seed cells per mini-batch; 0/None: full batch
    loss_cells: int | str | None = "auto"  # full batch: cells scored per epoch; 0/None: all

    def __post_init__(self):
        _whole("epochs", self.epochs, 1)
        _whole("patience", self.patience, 1)
        _whole("lr_patience", self.lr_patience, 0)
        _whole("gene_batch", self.gene_batch, 1)
        _whole("val_seed", self.val_seed, 0, allow_none=True)
        _floats(
            self, "lr", "lr_factor", "weight_decay", "detection_weight", "mask_rate", "val_rate",
            "zero_weight", "ema_decay",
        )  # fmt: skip
        if not 0.0 <= float(self.min_delta) < 1.0:
            raise InputError(f"min_delta (--min-delta) must be in [0, 1), got {self.min_delta}")

    @property
    def hidden_share(self) -> float:
        """Share of observed non-zeros hidden from every training input (validation + batch)."""
        return self.val_rate + self.mask_rate * (1 - self.val_rate)


@dataclass(frozen=True, kw_only=True)
class OutputOptions:
    """What is written: the default layer's blend and how the level is predicted.

    Attributes
    ----------
    blend
        The default layer from the hurdle decoder's level and P(detected) (`gnnimpute.output.blend`).
    level_mix
        Average this share of the neighbours' level (`gnnimpute.graph.level`, over the
        `detection_k` nearest neighbours, no training) into the model's level.
    predict_draws
        The output is the mean over this many inputs that each hide the share of observed
        non-zeros training hid (val_rate + mask_rate of the rest): the complete matrix is an input
        the model never saw in training, on which it under-predicts. 0: one pass on it.
    detection_shrink
        Level decoder only. The model predicts the level a gene has where it is detected. The
        output is multiplied by d ** detection_shrink, d the (Laplace-smoothed) share of the cell
        and its `detection_k` nearest neighbours in which the gene is detected: 0 keeps the
        level-if-detected (best on hidden counts), 1 gives the expected value (genes that are off
        in a cell type go to 0, best for clustering).
    """

    blend: str = "keep:expected"  # observed values kept, zeros filled: the layer for clustering
    level_mix: float = 0.5  # share of the neighbours' (no-training) level mixed into the level
    predict_draws: int = 8  # inputs the output is averaged over (0: one pass on the complete one)
    detection_shrink: float = 0.1  # level decoder only: level x (neighbourhood detection)^this

    def __post_init__(self):
        from .output.blend import parse_blend

        try:
            parse_blend(self.blend)
        except InputError as exc:
            raise InputError(f"--blend: {exc}") from None
        _whole("predict_draws", self.predict_draws, 0)
        _floats(self, "level_mix", "detection_shrink")


GROUPS: dict[str, type] = {
    "graph": GraphOptions,
    "model": ModelOptions,
    "training": TrainingOptions,
    "output": OutputOptions,
}
GROUP_OF: dict[str, str] = {
    f.name: group for group, cls in GROUPS.items() for f in dataclasses.fields(cls)
}


@dataclass(frozen=True)
class ImputeOptions:
    """Every option of an imputation, by concern, and the preset they started from."""

    graph: GraphOptions = field(default_factory=GraphOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    training: TrainingOptions = field(default_factory=TrainingOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    preset: str | None = None

    def replace(self, **values) -> ImputeOptions:
        """A copy with these options (flat names, e.g. epochs=50) changed; unknown names fail."""
        unknown = sorted(set(values) - set(GROUP_OF))
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(unknown)}")
        groups = {}
        for group in GROUPS:
            changed = {n: v for n, v in values.items() if GROUP_OF[n] == group}
            current = getattr(self, group)
            groups[group] = dataclasses.replace(current, **changed) if changed else current
        return dataclasses.replace(self, **groups)

    def flat(self) -> dict:
        """Every option by its flat name, in group order (what `uns` params record)."""
        return {
            name: value
            for group in GROUPS
            for name, value in dataclasses.asdict(getattr(self, group)).items()
        }


def build_options(
    options: ImputeOptions | None = None, preset: str | None = None, **values
) -> ImputeOptions:
    """`options` (or the defaults), then the preset's values, then `values`: the last one wins."""
    from .presets import preset_options

    result = options if options is not None else ImputeOptions()
    if preset is not None:
        result = dataclasses.replace(result.replace(**preset_options(preset)), preset=preset)
    return result.replace(**values)


DEFAULTS = ImputeOptions()
