"""The core package never loads the benchmark: `gnnimpute impute` needs none of its deps."""

import subprocess
import sys
import textwrap


def _loaded_after(code: str) -> set[str]:
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import sys
        print(",".join(sorted(m for m in sys.modules if m.startswith("gnnimpute"))))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.strip().splitlines()[-1].split(","))


def test_impute_help_does_not_import_benchmark():
    loaded = _loaded_after(
        """
        import gnnimpute
        from gnnimpute.cli import main
        try:
            main(["impute", "--help"])
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        """
    )
    assert "gnnimpute.cli" in loaded
    assert not any(m.startswith("gnnimpute.benchmark") for m in loaded), loaded


def test_core_modules_do_not_import_benchmark():
    loaded = _loaded_after(
        """
        import gnnimpute.api, gnnimpute.data.read, gnnimpute.data.qc, gnnimpute.data.simulate
        import gnnimpute.output.plots
        """
    )
    assert {
        "gnnimpute.api",
        "gnnimpute.training",
        "gnnimpute.nn.model",
        "gnnimpute.graph.knn",
    } <= loaded
    assert not any(m.startswith("gnnimpute.benchmark") for m in loaded), loaded


def test_benchmark_commands_still_registered():
    from click.testing import CliRunner

    from gnnimpute.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("impute", "simulate", "mask", "split", "evaluate", "benchmark"):
        assert f"  {name} " in result.output
    assert CliRunner().invoke(main, ["mask", "--help"]).exit_code == 0
