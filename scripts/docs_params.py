"""Write the pipeline's parameter tables into docs/pipeline.md from nextflow_schema.json.

The schema is what the pipeline validates against, so the page cannot drift from it:
    python scripts/docs_params.py            # rewrite the block between the params markers
    python scripts/docs_params.py --check    # exit 1 when the page is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"


def _default(prop: dict) -> str:
    if "default" not in prop:
        return ""
    value = prop["default"]
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return "" if value == "" else f"`{value}`"


def _allowed(prop: dict) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    bounds = [(k, prop[k]) for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
              if k in prop]  # fmt: skip
    signs = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}
    return ", ".join(f"{signs[k]} {v}" for k, v in bounds)


def tables(schema: dict) -> str:
    """One table per schema group: parameter, default, allowed values, description."""
    out = [BEGIN]
    for group in schema.get("$defs", schema.get("definitions", {})).values():
        out += ["", f"**{group.get('title', '')}**" + (f": {group['description']}"
                if group.get("description") else ""), ""]  # fmt: skip
        out += ["| parameter | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for name, prop in group["properties"].items():
            text = prop.get("description", "").replace("|", "\\|")
            out.append(f"| `--{name}` | {_default(prop)} | {_allowed(prop)} | {text} |")
    out.append(END)
    return "\n".join(out)


def splice(page: str, block: str) -> str:
    if BEGIN not in page or END not in page:
        raise SystemExit(f"no {BEGIN} ... {END} block in the page")
    head, rest = page.split(BEGIN, 1)
    return head + block + rest.split(END, 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", type=Path, default=ROOT / "nextflow_schema.json")
    parser.add_argument("--page", type=Path, default=ROOT / "docs" / "pipeline.md")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    page = args.page.read_text()
    new = splice(page, tables(json.loads(args.schema.read_text())))
    if args.check:
        if new != page:
            print(f"{args.page} is stale: run python scripts/docs_params.py", file=sys.stderr)
            return 1
        return 0
    args.page.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
