"""Padded wordpieces per batch row: our length-sorted batches against random batches padded to their longest.

    python scripts/padding_stats.py --data=data/conll2003/train.txt
"""

import numpy as np
from absl import flags

flags.DEFINE_string("data", "data/conll2003/train.txt", "CoNLL file")
flags.DEFINE_integer("batch_size", 32, "rows per batch")


def main(argv):
    del argv
    # Imported here, after absl has parsed the flags: `--help` needs no TensorFlow.
    from ner import data, features
    from ner.features import encode_sentences
    from ner.tokenization import Tokenizer

    sents = data.sentences(data.read_conll(flags.FLAGS.data))
    encoded = encode_sentences(Tokenizer.from_pretrained(), [s.tokens for s in sents], 128)
    lengths = np.array([len(w.input_ids) for w in encoded.windows])
    bs = flags.FLAGS.batch_size
    ours = [b.input_ids.shape[1] for b in features.batches(encoded.windows, bs, shuffle=True, seed=1)
            for _ in range(int((b.index >= 0).sum()))]
    order = np.random.default_rng(1).permutation(len(lengths))
    rand = [lengths[order[i:i + bs]].max() for i in range(0, len(order), bs)
            for _ in range(len(order[i:i + bs]))]
    print(f"real wordpieces per window: {lengths.mean():.1f}")
    print(f"ours (sorted by length, padded to the longest): {np.mean(ours):.1f} per row")
    print(f"random batches of {bs} padded to their longest: {np.mean(rand):.1f} per row")


if __name__ == "__main__":
    from _common import REPO  # noqa: F401  (puts the repository on sys.path)
    from ner import cli

    cli.run_absl(main)
