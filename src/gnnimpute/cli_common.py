"""What every command shares: log lines on stderr, one-line errors and the exit codes."""

from __future__ import annotations

import logging
import sys

import click

from .errors import InputError


def setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        format="%(message)s", stream=sys.stderr, level=logging.WARNING if quiet else logging.INFO
    )
    logging.getLogger("gnnimpute").setLevel(logging.WARNING if quiet else logging.INFO)


def run_safely(fn):
    """Turn user errors into one line and exit 1; Ctrl-C into exit 130 with nothing written."""
    try:
        return fn()
    except (InputError, RuntimeError, ValueError) as exc:
        raise click.ClickException(
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ) from exc
    except KeyboardInterrupt:
        click.echo("interrupted; no output written", err=True)
        sys.exit(130)
