"""nextflow_schema.json: a valid JSON Schema that describes every parameter of
nextflow.config, and whose defaults match the params block (which must validate)."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "nextflow_schema.json"


def _literal(text: str):
    text = text.strip()
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"'[^']*'|\"[^\"]*\"", text):
        return text[1:-1]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?", text):
        return float(text)
    raise ValueError(f"unsupported parameter value: {text!r}")


@functools.cache
def config_params() -> dict:
    """The pipeline's params as Nextflow resolves them (`nextflow config -flat`)."""
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Nextflow cannot run (make setup installs it)")
    env = dict(os.environ)
    env.setdefault("NXF_JARS_CACHE", str(ROOT / ".cache" / "nextflow"))
    env.update(NXF_OFFLINE="true", NXF_DISABLE_CHECK_LATEST="true", NXF_ANSI_LOG="false")
    res = subprocess.run(
        [str(ROOT / "scripts/nextflow"), "config", str(ROOT / "main.nf"), "-flat"],
        capture_output=True,
        text=True,
        cwd="/tmp",
        env=env,
        timeout=180,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    params = {}
    for line in res.stdout.splitlines():
        if line.startswith("params."):
            key, _, value = line[len("params.") :].partition(" = ")
            params[key] = _literal(value)
    assert params, "nextflow config printed no params"
    return params


def schema_properties(schema: dict) -> dict:
    props = dict(schema.get("properties", {}))
    for group in schema.get("$defs", {}).values():
        props.update(group.get("properties", {}))
    return props


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def test_schema_is_valid_json_schema(schema):
    validator = jsonschema.validators.validator_for(schema)
    assert validator is jsonschema.Draft202012Validator
    validator.check_schema(schema)
    # every group is referenced from allOf, so that validation sees every parameter
    refs = {item["$ref"] for item in schema["allOf"]}
    assert refs == {f"#/$defs/{name}" for name in schema["$defs"]}


def test_every_param_is_described_and_vice_versa(schema):
    params = config_params()
    props = schema_properties(schema)
    assert sorted(set(params) - set(props)) == [], "params missing from nextflow_schema.json"
    assert sorted(set(props) - set(params)) == [], "schema parameters missing from nextflow.config"
    for name, spec in props.items():
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"


def test_config_defaults_validate_against_schema(schema):
    params = config_params()
    # like nf-schema, unset (null) parameters are not validated
    instance = {k: v for k, v in params.items() if v is not None}
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        instance
    )


def test_schema_defaults_match_config(schema):
    params = config_params()
    for name, spec in schema_properties(schema).items():
        if params[name] is None:
            assert "default" not in spec, (
                f"{name}: null in nextflow.config but a default in the schema"
            )
        else:
            assert spec.get("default") == params[name], (
                f"{name}: schema default differs from nextflow.config"
            )


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("layer_type", "foo"),
        ("epochs", 0),
        ("mask_rate", 1.5),
        ("gnnimpute_device", "tpu"),
        ("label_key", "group --help;touch PWNED;echo"),
        ("impute_args", "--epochs 1;touch PWNED"),
        ("gpu_type", "t4 --x"),
    ],
)
def test_schema_rejects_bad_values(schema, name, bad):
    instance = {k: v for k, v in config_params().items() if v is not None}
    instance[name] = bad
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(instance)
