"""The exported SavedModel against `Tagger.tag_batch` on every sentence of a CoNLL file.

    python -m ner.export --model_dir=runs/default --export_dir=exported/ner
    python scripts/export_parity.py --model_dir=runs/default --saved_model=exported/ner/1

(`--precision=int8` for an int8 export: the tagger in the precision exported).

Tags each sentence of `--data` (CoNLL-2003 test by default) as raw text
(tokens joined with spaces), and the Unicode cases of `tests/test_export.py`,
with both, and counts the texts whose entities differ in label, character
offsets or text, and the largest score difference. Exits 1 when any entity
differs or a score differs by more than `--score_tolerance`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="model folder or training output folder")
    parser.add_argument("--saved_model", required=True, help="exported version folder")
    parser.add_argument("--data", default=str(_REPO / "data" / "conll2003" / "test.txt"),
                        help="CoNLL file whose sentences are tagged")
    parser.add_argument("--score_tolerance", type=float, default=1e-4)
    parser.add_argument("--precision", default="float32",
                        help="the tagger's precision (python -m ner.precision): that of the "
                             "export, e.g. int8 for one exported with --precision=int8")
    parser.add_argument("--texts_per_call", type=int, default=4096,
                        help="texts per SavedModel call; 4096 is what tag_batch passes to the "
                             "pipeline at once, so both see the same encoder batches")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the text ops)

    import ner
    from ner import data
    from tests.test_export import UNICODE_TEXTS

    conll = [" ".join(s.tokens) for s in data.sentences(data.read_conll(args.data))]
    texts = conll + UNICODE_TEXTS
    want = ner.Tagger.load(args.model_dir, precision=args.precision).tag_batch(texts)
    serve = tf.saved_model.load(args.saved_model).signatures["serving_default"]
    differing, worst, count = [], 0.0, 0
    step = args.texts_per_call
    for first in range(0, len(texts), step):
        batch = texts[first:first + step]
        out = {k: v.numpy() for k, v in serve(texts=tf.constant([t.encode() for t in batch])).items()}
        for b, text in enumerate(batch):
            n = int(out["num_entities"][b])
            got = [(out["labels"][b, i].decode(), int(out["char_starts"][b, i]),
                    int(out["char_ends"][b, i]), out["entity_texts"][b, i].decode())
                   for i in range(n)]
            expected = want[first + b]
            count += len(expected)
            if got != [(e.label, e.start, e.end, e.text) for e in expected]:
                differing.append(first + b)
                continue
            if n:
                worst = max(worst, float(np.max(np.abs(
                    out["scores"][b, :n] - np.array([e.score for e in expected])))))
    print(f"{len(texts)} texts ({len(conll)} sentences of {args.data} and {len(UNICODE_TEXTS)} "
          f"Unicode cases), {count} entities: {len(differing)} texts differ in entities or "
          f"offsets; largest score difference {worst:.2e}")
    for i in differing[:10]:
        print(f"  differs: {texts[i]!r}")
    return int(bool(differing) or worst > args.score_tolerance)


if __name__ == "__main__":
    sys.exit(main())
