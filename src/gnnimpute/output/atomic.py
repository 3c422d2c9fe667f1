"""Outputs written atomically: check the path before any work, build in a temp file, rename when done."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import anndata as ad

from ..errors import InputError


def check_output_path(
    path: str | os.PathLike,
    *,
    force: bool = False,
    input_path: str | os.PathLike | None = None,
    suffix: str = ".h5ad",
    what: str = "output",
) -> Path:
    """Fail before any work if OUTPUT exists (without force), is INPUT, or cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{what} folder does not exist: {folder}")
    limit = _name_max(folder)
    if len(os.fsencode(path.name)) > limit:
        raise InputError(
            f"{what} file name is too long: {len(os.fsencode(path.name))} bytes "
            f"(this file system allows {limit}): {path.name[:40]}..."
        )
    if not path.name.lower().endswith(suffix):
        raise InputError(f"{what} must end in {suffix}: {path}")
    if input_path is not None and _same_file(path, Path(input_path)):
        raise InputError(
            f"{what} {path} is the input file {input_path} (same file through a link); "
            "the input is never overwritten - choose another name"
        )
    if path.exists() and not force:
        raise InputError(f"{what} exists: {path} (use --force to overwrite)")
    if path.is_dir():
        raise InputError(f"{what} is a folder: {path}")
    try:  # a real probe: permission bits say nothing for root or read-only mounts
        fd, probe = _mkstemp(path, ".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"{what} folder is not writable: {folder} ({_reason(exc)})") from exc
    return path


def _same_file(a: Path, b: Path) -> bool:
    """Same inode and device: catches symlinks and hard links, not only equal names."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _mkstemp(path: Path, suffix: str) -> tuple[int, str]:
    """A hidden temp file beside `path` whose name fits the file system's limit."""
    folder = path.parent if str(path.parent) else Path(".")
    room = _name_max(folder) - len(os.fsencode(suffix)) - 1 - 8 - 1  # ".", random part, "."
    stem = os.fsencode(path.name)[: max(room, 1)].decode(errors="ignore")
    return tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=folder)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    """The OS's words for an error (e.g. 'No space left on device'), wherever HDF5 buried them."""
    seen = exc
    while seen is not None:
        code = getattr(seen, "errno", None)
        if isinstance(code, int) and code > 0:
            return os.strerror(code)
        found = re.search(r"errno = (\d+)", str(seen))
        if found:
            return os.strerror(int(found.group(1)))
        seen = seen.__cause__ or seen.__context__
    return (str(exc).splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = False, tmp_suffix: str = ".tmp"):
    """Yield a temp path beside `path`; on success rename it over `path`, on any failure remove it.

    The file gets the mode a plain `open()` would give (0666 minus the umask), not mkstemp's 0600,
    so other users and containers run with `-u` can read it.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = _mkstemp(path, tmp_suffix)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
        if path.exists() and not force:  # appeared while we worked
            raise InputError(f"output exists: {path} (use --force to overwrite)")
        os.replace(tmp, path)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {_reason(exc)}") from exc
        raise


def write_h5ad_atomic(adata: ad.AnnData, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write to a temporary file beside `path`, then rename: a crash never leaves a partial file."""
    path = check_output_path(path, force=force)
    with atomic_path(path, force=force) as tmp:
        adata.write_h5ad(tmp)
    return path
