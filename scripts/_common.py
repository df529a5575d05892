"""Helpers shared by the benchmark scripts (benchmark.py, benchmark_tag.py, onnx_peer.py).

Importing this module puts the repository root on `sys.path`, so that a
script run as `python scripts/X.py` can import `ner` and `evaluation`. The
scripts import it as `_common` (their own folder is `sys.path[0]`):

    from _common import REPO, default_data, timed
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def default_data() -> Path:
    """The CoNLL-2003 `test.txt`: in `data/conll2003/`, else in `../shared/data/conll2003/`.

    When neither has it, the path in `data/conll2003/` (for the error message).
    """
    for folder in (REPO / "data" / "conll2003", REPO.parent / "shared" / "data" / "conll2003"):
        if (folder / "test.txt").is_file():
            return folder / "test.txt"
    return REPO / "data" / "conll2003" / "test.txt"


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB."""
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU seconds (user and system) this process has used so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(function, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of `function(*args)`."""
    cpu = cpu_seconds()
    start = time.perf_counter()
    function(*args)
    wall = time.perf_counter() - start
    return wall, cpu_seconds() - cpu


def summary(name: str, runs: list[tuple[float, float]], sentences: int, words: int) -> dict:
    """Best-of-rounds numbers of `timed` runs (the least disturbed run of a shared machine).

    Prints one line (wall time of the best run and of all, its CPU time,
    sentences/s and words/s) and returns the same numbers as a dict.
    """
    wall, cpu = min(runs)
    print(f"{name}: {sentences} sentences, {words} words in {wall:.2f}s (best of "
          f"{len(runs)}: {', '.join(f'{w:.2f}' for w, _ in runs)}; {cpu:.1f} CPU-s): "
          f"{sentences / wall:.1f} sentences/s, {words / wall:.0f} words/s")
    return {"seconds": wall, "cpu_seconds": cpu, "all_seconds": [w for w, _ in runs],
            "sentences_per_s": sentences / wall, "words_per_s": words / wall}
