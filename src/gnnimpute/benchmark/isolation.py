"""Each method run in a child process of its own, timed and measured (peak RSS), or in this one.

Resources: with ``isolate=True`` (the default and what the CLI does) each method runs in its
own freshly spawned Python process (``multiprocessing`` 'spawn'); its input reaches it as an
.h5ad file written from ``method_input``. Wall time is ``time.perf_counter`` around the
method call only (not the process start or the file reads); peak memory is the process's
high-water resident set (``VmHWM`` of /proc/self/status, kept by the kernel, so nothing is
missed between samples; ``ru_maxrss`` is not used because after fork+exec it also carries the
parent's size): the peak resident set of the whole process, so it includes the interpreter, the libraries the method imports, and the input matrix (the
resident size just before the call is recorded as ``rss_start_mb``). With ``isolate=False``
(tests) methods run in this process and peak memory is sampled with psutil every 20 ms.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import traceback
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

from .methods import Method, MethodUnavailable


class _RssSampler:
    """Peak resident memory of this process while a block runs (psutil, sampled)."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _call(method: Method, adata: ad.AnnData, seed: int, k: int, options: dict) -> dict:
    try:
        t0 = time.perf_counter()
        out, embedding, extras = method(adata, seed=seed, k=k, with_embedding=True, **options)
        res = {"status": "ok", "wall_s": time.perf_counter() - t0, "out": out, "extras": extras}
        return res if embedding is None else {**res, "embedding": embedding}
    except MethodUnavailable as exc:
        return {"status": "skipped", "reason": exc.reason}
    except Exception as exc:
        return {
            "status": "failed",
            "reason": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            "traceback": traceback.format_exc(),
        }


def _peak_rss_mb(resource) -> float:
    """Peak resident memory of this process's own address space.

    VmHWM from /proc/self/status (Linux): the kernel's high-water mark, reset at exec. Not
    ``ru_maxrss``: after fork+exec that also carries the pre-exec (forked parent's) peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(conn, method: Method, in_path: str, out_path: str, seed: int, k: int, options: dict):
    import resource

    warnings.filterwarnings("ignore")
    adata = ad.read_h5ad(in_path)
    rss0 = _rss_mb()
    res = _call(method, adata, seed, k, options)
    if res["status"] == "ok":
        out = res.pop("out")
        if sp.issparse(out):
            sp.save_npz(out_path + ".npz", sp.csr_matrix(out), compressed=False)
            res["path"] = out_path + ".npz"
        else:
            np.save(out_path + ".npy", np.asarray(out, dtype=np.float32))
            res["path"] = out_path + ".npy"
        if res.get("embedding") is not None:
            np.save(out_path + "_embedding.npy", res.pop("embedding"))
            res["embedding_path"] = out_path + "_embedding.npy"
        extra_paths = {}
        for name, layer in res.pop("extras").items():
            extra_paths[name] = f"{out_path}_extra_{name}.npy"
            np.save(extra_paths[name], np.asarray(layer, dtype=np.float32))
        res["extra_paths"] = extra_paths
    res["rss_start_mb"] = rss0
    res["peak_rss_mb"] = _peak_rss_mb(resource)
    conn.send(res)
    conn.close()


def run_isolated(
    method: Method, in_path: Path, workdir: Path, seed: int, k: int, options: dict,
    timeout_s: float | None = None,
) -> dict:  # fmt: skip
    """Run one method in a fresh spawned process; returns status, times, memory and output."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    out_path = str(workdir / f"out_{method.name}")
    proc = ctx.Process(
        target=_child, args=(child, method, str(in_path), out_path, seed, k, options), daemon=True
    )
    proc.start()
    child.close()
    res: dict | None = None
    deadline = None if not timeout_s else time.monotonic() + timeout_s
    try:
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            if parent.poll(wait):
                try:
                    res = parent.recv()
                except EOFError:
                    res = None
                break
            if not proc.is_alive():
                break
            if deadline is not None and time.monotonic() >= deadline:
                proc.terminate()
                proc.join(10)
                return {"status": "failed", "reason": f"timeout after {timeout_s:g} s"}
    except BaseException:  # Ctrl-C or SIGTERM: the method's process must not outlive us
        proc.terminate()
        proc.join(10)
        raise
    proc.join(30)
    if res is None:
        return {"status": "failed", "reason": f"process died (exit code {proc.exitcode})"}
    if res["status"] == "ok":
        p = res.pop("path")
        res["out"] = sp.load_npz(p).tocsr() if p.endswith(".npz") else np.load(p)
        os.unlink(p)
        if "embedding_path" in res:
            p = res.pop("embedding_path")
            res["embedding"] = np.load(p)
            os.unlink(p)
        res["extras"] = {}
        for name, p in res.pop("extra_paths", {}).items():
            res["extras"][name] = np.load(p)
            os.unlink(p)
    return res


def run_in_process(method: Method, adata: ad.AnnData, seed: int, k: int, options: dict) -> dict:
    rss0 = _rss_mb()
    with _RssSampler() as sampler:
        res = _call(method, adata, seed, k, options)
    res["rss_start_mb"] = rss0
    res["peak_rss_mb"] = sampler.peak / 2**20
    return res


def _resources(res: dict) -> dict:
    row = {"status": res["status"], "reason": res.get("reason")}
    for key in ("wall_s", "peak_rss_mb", "rss_start_mb"):
        if key in res:
            row[key] = float(res[key])
    return row
