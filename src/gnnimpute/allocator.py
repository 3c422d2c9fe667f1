"""glibc's malloc told to keep freed memory for reuse, for the command line.

A training epoch allocates and frees the same few block-sized arrays (cells x gene batch, a few
MB each) dozens of times. By default glibc maps such blocks fresh and gives them back on free, so
every epoch pays a page fault per 4 kB touched, which in a VM costs more than the arithmetic.
Keeping freed blocks in the heap makes the next allocation of that size reuse warm pages. Results
do not change (torch aligns its arrays the same either way); resident memory stays nearer the peak.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # free memory at the top of the heap kept before it is returned
M_TOP_PAD = -2  # extra grown with each heap extension
M_MMAP_THRESHOLD = -3  # blocks at least this large are mapped on their own (and unmapped on free)

MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit: bigger arrays stay mapped
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20


def retain_freed_memory() -> bool:
    """Serve blocks up to 32 MB from the heap and keep freed ones; True where glibc accepted it.

    Process-wide, so the command line calls it, not the library: a Python session that imports
    gnnimpute keeps its allocator as it was.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (or no mallopt): leave the allocator alone
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(
        mallopt(option, value) == 1
        for option, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
