"""One BLAS thread while models are fitted.

scipy's L-BFGS-B (which `ETSModel.fit` uses) calls BLAS on matrices of a few rows per iteration.
OpenBLAS hands even those to its thread pool, and on a busy two-core machine waking the pool costs
about a millisecond a call: an ETS fit took 35–60 ms with the default two threads and 6 ms with
one (measured 22 Nov 2026). Fitting thousands of small models gains nothing from BLAS threads, so
`single_blas_thread()` sets OpenBLAS's *thread-local* thread count to 1 for the calling thread and
restores it afterwards; other threads of the process are not affected.

It looks for the OpenBLAS libraries numpy and scipy have loaded (Linux: /proc/self/maps) and calls
`openblas_set_num_threads_local` (OpenBLAS ≥ 0.3.27). Where that is not available (another BLAS,
another OS), it does nothing and the fits are merely slower.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from pathlib import Path


@functools.cache
def _setters() -> tuple:
    """`openblas_set_num_threads_local` of every OpenBLAS loaded in this process (found once:
    numpy and scipy load theirs at import, before any fit)."""
    maps = Path("/proc/self/maps")
    try:
        paths = sorted({line.split()[-1] for line in maps.read_text().splitlines() if "openblas" in line.lower()})
    except OSError:
        return ()
    setters = []
    for path in paths:
        if not path.startswith("/"):
            continue
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = ctypes.c_int
        setters.append(setter)
    return tuple(setters)


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one OpenBLAS thread in the calling thread (see the module docstring)."""
    previous = []
    for setter in _setters():
        try:
            previous.append((setter, setter(1)))
        except Exception:  # noqa: S112 - a speed-up only; never fail a forecast for it
            continue
    try:
        yield
    finally:
        for setter, count in previous:
            with contextlib.suppress(Exception):
                setter(max(1, count))
