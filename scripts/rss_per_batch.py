"""Resident memory of `Tagger.tag_batch` over many batches, without ner.tag.

    python scripts/rss_per_batch.py LABEL BATCHES      # LABEL "trim": malloc_trim(0) after each batch

Tags `BATCHES` batches of 200,000 characters (the default `--batch_chars` of
`python -m ner.tag`) of the CoNLL-2003 test sentences, cycled, with the
model of `runs/default`, and prints the process's RSS after batches 1, 2, 5,
10, 15, 20, 25, 30 and 40 as `LABEL MALLOC_ARENA_MAX BATCH RSS_MIB`. Run it
with environment variables to compare allocator and TensorFlow settings, e.g.
`MALLOC_ARENA_MAX=2`, `TF_ENABLE_ONEDNN_OPTS=0`,
`ONEDNN_PRIMITIVE_CACHE_CAPACITY=8` (BENCHMARKS.md, issue 13).
"""

import ctypes
import itertools
import os
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO / "scripts"))
sys.path.insert(0, str(_REPO))

from benchmark_tag import _rss_mib, conll_lines  # noqa: E402
from ner.tagger import Tagger  # noqa: E402

trim = sys.argv[1] == "trim"
n_batches = int(sys.argv[2])
lines = conll_lines(_REPO / "data" / "conll2003" / "test.txt", "sentence")
t = Tagger.load(_REPO / "runs" / "default")
libc = ctypes.CDLL("libc.so.6")
it = itertools.cycle(lines)
out = []
for b in range(1, n_batches + 1):
    batch, chars = [], 0
    while chars < 200000:
        x = next(it)
        batch.append(x)
        chars += len(x)
    res = t.tag_batch(batch)
    del res
    if trim:
        libc.malloc_trim(0)
    out.append(_rss_mib(os.getpid()))
    if b in (1, 2, 5, 10, 15, 20, 25, 30, 40):
        print(sys.argv[1], os.environ.get("MALLOC_ARENA_MAX"), b, out[-1], flush=True)
