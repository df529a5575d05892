"""Seconds to tag CoNLL-2003 test as raw text, one text per document, for each model folder.

    python scripts/tagging_cost.py runs/default runs/docctx64 --precision=bfloat16

Each document is one text, its sentences joined by spaces
(`benchmark_tag.conll_lines`), which the tagger splits into sentences by its
own rule, as it would a user's text: a model trained with
`--document_context` then reads each sentence inside a window filled with
its neighbours, a model without it each sentence in a window of its own. All
texts go to one `Tagger.tag_batch` call. The models are timed in turns (A, B, A, B, ...)
after a warm-up call each, so a shared machine's slow moments fall on all of
them alike; the line printed per model gives every timing and the ratio of
its best to the first model's best.

What a setting costs to tag depends on its shapes, not its weights: a model
trained for a few steps (`--max_steps`) times like a fully trained one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import default_data
from benchmark_tag import conll_lines

# `ner` (and TensorFlow with it) is imported after the arguments are read,
# so that `--help` answers at once, without TensorFlow's start-up logs.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model folders (the first is the reference)")
    parser.add_argument("--data", default=str(default_data()),
                        help="CoNLL file whose documents are tagged (default: CoNLL-2003 test)")
    parser.add_argument("--precision", default="float32",
                        help="inference precision for every model (float32, bfloat16, int8, auto)")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per model")
    parser.add_argument("--output", default="", help="also write the timings here as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    from ner.tagger import Tagger

    texts = conll_lines(Path(args.data), "document")
    sentences = len(conll_lines(Path(args.data), "sentence"))
    print(f"{args.data}: {len(texts)} documents, {sentences} sentences", flush=True)
    taggers = [Tagger.load(m, precision=args.precision) for m in args.models]
    for tagger in taggers:
        tagger.tag_batch(texts[:5])
    seconds = [[] for _ in taggers]
    for _ in range(args.rounds):
        for tagger, times in zip(taggers, seconds):
            start = time.perf_counter()
            tagger.tag_batch(texts)
            times.append(time.perf_counter() - start)

    rows = []
    for folder, tagger, times in zip(args.models, taggers, seconds):
        row = {"model": folder, "document_context": tagger.config.document_context,
               "max_seq_length": tagger.config.max_seq_length,
               "seconds": times, "ratio_to_first": min(times) / min(seconds[0])}
        rows.append(row)
        print(f"{folder}: document_context={row['document_context']} "
              f"max_seq_length={row['max_seq_length']} seconds "
              f"{', '.join(f'{t:.2f}' for t in times)}; best {min(times):.2f} s, "
              f"{row['ratio_to_first']:.2f}x the first model", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps({
            "data": args.data, "documents": len(texts), "sentences": sentences,
            "precision": args.precision, "models": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
