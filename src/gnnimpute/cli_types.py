"""click parameter types that refuse NaN and infinity (click's FloatRange lets NaN through)."""

from __future__ import annotations

import math

import click


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also requires a finite value: `--lr nan` is an error, never a run."""

    name = "float"

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{rv} is not a finite number.", param, ctx)
        return rv


FINITE_FLOAT = FiniteFloatRange()
