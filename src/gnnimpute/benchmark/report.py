"""The benchmark's report: every table and figure, and report.html, from its rows."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from .figures import plot_bars, plot_embeddings, plot_lines, plot_markers
from .summary import _metric_cols, summarize
from .tables import _fmt, md_table, readme_section


def _html_table(s: pd.DataFrame) -> str:
    return s.to_html(
        index=False, na_rep="–", float_format=lambda v: f"{v:.4g}", border=0, classes="t"
    )


def write_report(
    df: pd.DataFrame,
    out: Path,
    *,
    command: str | None = None,
    plots: bool = True,
    stage: str | None = None,
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = df.copy()
    df.to_csv(out / "results.csv", index=False)
    s = summarize(df)
    s.to_csv(out / "summary.csv", index=False)
    show = [
        c
        for c in [
            "dataset",
            "protocol",
            "rate",
            "train_frac",
            "seed",
            "method",
            "options",
            "status",
            "reason",
            *_metric_cols(df),
        ]
        if c in df
    ]
    (out / "results.md").write_text(
        md_table(
            show,
            [
                [_fmt(v) if isinstance(v, float) else ("–" if v is None else str(v)) for v in r]
                for r in df[show].itertuples(index=False)
            ],
        )
        + "\n"
    )
    section = readme_section(df, s, command, stage)
    (out / "README_section.md").write_text(section)
    (out / "summary.md").write_text(section)
    if command:
        (out / "command.txt").write_text(command + "\n")
    images: list[tuple[str, str]] = []
    if plots:
        for d in dict.fromkeys(df["dataset"]):
            safe = str(d)
            sub = s[(s["dataset"] == d) & (s["protocol"] == "mask")]
            rates = sorted(sub["rate"].dropna().unique())
            if rates and plot_bars(s, d, rates[0], out / f"bars_{safe}.png"):
                images.append((f"{d}: metrics per method (rate {rates[0]:g})", f"bars_{safe}.png"))
            if len(rates) > 1 and plot_lines(s, d, "mask", out / f"rates_{safe}.png"):
                images.append((f"{d}: metric against masking rate", f"rates_{safe}.png"))
            if plot_lines(s, d, "split", out / f"trainfrac_{safe}.png"):
                images.append(
                    (
                        f"{d}: training-fraction sweep (molecular cross-validation)",
                        f"trainfrac_{safe}.png",
                    )
                )
            cache = out / "cache" / safe
            if cache.is_dir():
                if plot_embeddings(cache, d, out / f"tsne_{safe}.png"):
                    images.append(
                        (
                            f"{d}: t-SNE before masking, after masking, after imputation",
                            f"tsne_{safe}.png",
                        )
                    )
                if plot_markers(cache, d, out / f"markers_{safe}.png"):
                    images.append(
                        (f"{d}: marker genes before and after imputation", f"markers_{safe}.png")
                    )
    _write_html(out, section, s, images)
    return {"summary": s, "images": images}


def _write_html(out: Path, section: str, s: pd.DataFrame, images: list[tuple[str, str]]):
    body = [
        "<!doctype html><html><head><meta charset='utf-8'><title>gnnimpute benchmark</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em}"
        "table.t{border-collapse:collapse;font-size:12px}table.t td,table.t th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%;border:1px solid #ddd}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}</style>",
        "</head><body><h1>gnnimpute benchmark</h1>",
        "<p>Files: <a href='results.csv'>results.csv</a> (one row per run), "
        "<a href='results.md'>results.md</a>, <a href='summary.csv'>summary.csv</a>, "
        "<a href='README_section.md'>README_section.md</a>.</p>",
        "<h2>Summary (Markdown, as in the README)</h2><pre>" + html.escape(section) + "</pre>",
    ]
    for title, img in images:
        body.append(
            f"<h2>{html.escape(title)}</h2><a href='{img}'><img src='{img}' alt='{html.escape(title)}'></a>"
        )
    body.append("<h2>All summary rows</h2>" + _html_table(s))
    body.append("</body></html>")
    (out / "report.html").write_text("\n".join(body))
