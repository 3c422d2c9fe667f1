"""The command line keeps freed blocks for reuse (allocator.py); the library leaves malloc alone."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from gnnimpute import cli

FREED_MB = """
import sys, numpy as np
from gnnimpute.allocator import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
block = np.ones(8 << 20, dtype=np.uint8)  # 8 MB, touched
before = rss()
del block
print((before - rss()) / 2**20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_blocks_stay_resident_only_after_retain():
    def returned_mb(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", FREED_MB, mode], capture_output=True, text=True, check=True
        )
        return float(out.stdout)

    assert returned_mb("default") > 7.5  # glibc maps an 8 MB block alone and unmaps it on free
    assert returned_mb("retain") < 0.5  # kept in the heap for the next block of that size


def test_every_command_retains_freed_memory(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(cli, "retain_freed_memory", lambda: calls.append(1) or True)
    result = CliRunner().invoke(cli.main, ["impute", str(tmp_path / "absent.h5ad"), "out.h5ad"])
    assert result.exit_code != 0 and calls == [1]
