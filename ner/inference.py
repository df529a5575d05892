"""Sentences of words in, one label (and marginal) per word out.

Shared by training (dev and test evaluation) and by `ner.Tagger`. The steps:
tokenize all words in one call, cut windows (`features.make_windows`), run the
encoder and head on batches of windows sorted by length, put the word
potentials back together per sentence, and decode whole sentences with the
CRF. Python touches windows and sentences, never individual wordpieces.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np
import tensorflow as tf

from ner import casing, features
from ner.model import TaggerModel


@dataclasses.dataclass
class Encoded:
    """Tokenized sentences cut into windows."""

    windows: list[features.Window]
    stats: features.WindowStats
    sentence_lengths: list[int]


def encode_sentences(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    max_seq_length: int,
    label_ids: Sequence[Sequence[int]] | None = None,
    documents: Sequence[int] | None = None,
    document_context: bool = False,
    pack_vocab_size: int | None = None,
    chunk: int = 4096,
) -> Encoded:
    """Tokenizes word lists and cuts them into windows (see `features.make_windows`).

    Args:
        sentences: per sentence, its words: Python lists of `str`, or a string
            RaggedTensor [B, (W)] (what `ner.Tagger` passes for raw text, so
            the words it split never round-trip through Python strings).
        pack_vocab_size: for a model with `case_features`, its vocabulary
            size: each word's shape is packed into its ids (`ner.casing`).
            None (plain ids) otherwise; `TaggerConfig.packing_vocab_size`
            gives the right value.
    """
    ragged = isinstance(sentences, tf.RaggedTensor)
    count = int(sentences.nrows()) if ragged else len(sentences)
    pieces: list = []
    for i in range(0, count, chunk):
        part = sentences[i:i + chunk] if ragged else [list(s) for s in sentences[i:i + chunk]]
        ids = tokenizer.tokenize_words(part)
        if pack_vocab_size:
            flat_words = (part.flat_values if ragged else
                          tf.constant([w for sentence in part for w in sentence], tf.string))
            ids = casing.pack(ids, flat_words, pack_vocab_size)
        pieces += _split_ragged(ids)
    windows, stats = features.make_windows(
        pieces, max_seq_length, tokenizer.cls_id, tokenizer.sep_id, labels=label_ids,
        documents=documents, document_context=document_context)
    lengths = sentences.row_lengths().numpy().tolist() if ragged else [len(s) for s in sentences]
    return Encoded(windows, stats, lengths)


def _split_ragged(ids: tf.RaggedTensor) -> list[list[np.ndarray]]:
    """[B, (W), (P)] ragged ids as per-sentence lists of per-word arrays.

    Slicing the flat numpy values is ~50x faster than `RaggedTensor.to_list()`.
    """
    values = ids.flat_values.numpy()
    word_splits = ids.values.row_splits.numpy()
    sentence_splits = ids.row_splits.numpy()
    words = np.split(values, word_splits[1:-1]) if len(values) else [values] * (len(word_splits) - 1)
    return [words[a:b] for a, b in zip(sentence_splits[:-1], sentence_splits[1:])]


class Predictor:
    """Compiled prediction functions over a `TaggerModel`.

    Args:
        model: the model.
        batch_size: windows per encoder batch.
        jit_compile: compile the encoder pass with XLA; batches are then
            padded to `batch_size` rows and lengths rounded up to multiples of
            `features.BUCKET`, because each new shape costs a compile.
    """

    def __init__(self, model: TaggerModel, batch_size: int = 64, jit_compile: bool = False):
        self.model = model
        self.batch_size = batch_size
        self.jit_compile = jit_compile
        ids = tf.TensorSpec([None, None], tf.int32)
        # autograph=False: the model has no tensor-dependent Python control
        # flow to convert, and AutoGraph cannot parse lambdas' source anyway.
        self._potentials = tf.function(
            functools.partial(model.potentials, training=False),
            input_signature=[ids, ids, ids, tf.TensorSpec([None], tf.int32)],
            jit_compile=jit_compile, autograph=False)
        pot = tf.TensorSpec([None, None, len(model.config.labels)], tf.float32)
        lengths = tf.TensorSpec([None], tf.int32)
        self._decode = tf.function(model.crf.decode, input_signature=[pot, lengths], autograph=False)
        self._marginals = tf.function(model.crf.marginals, input_signature=[pot, lengths],
                                      autograph=False)

    def sentence_potentials(self, encoded: Encoded) -> list[np.ndarray]:
        """Per sentence, float32 [words, K] CRF emission scores."""
        by_window: dict[int, np.ndarray] = {}
        for batch in features.batches(encoded.windows, self.batch_size,
                                      fixed_batch_size=self.jit_compile):
            pot = self._potentials(batch.input_ids, batch.input_mask, batch.word_starts,
                                   batch.word_lengths).numpy()
            for row, i in enumerate(batch.index):
                by_window[int(i)] = pot[row, :batch.word_lengths[row]]
        return features.assemble_potentials(encoded.windows, by_window, encoded.sentence_lengths,
                                            len(self.model.config.labels))

    def decode(self, potentials: Sequence[np.ndarray], marginals: bool = False,
               batch_size: int = 256) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Viterbi label ids per sentence, and optionally [words, K] marginals."""
        order = np.argsort([len(p) for p in potentials], kind="stable")
        tags: list = [None] * len(potentials)
        margs: list | None = [None] * len(potentials) if marginals else None
        k = len(self.model.config.labels)
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            lengths = np.array([len(potentials[i]) for i in idx], np.int32)
            width = features.bucket_length(int(lengths.max()) if len(lengths) else 1)
            padded = np.zeros((len(idx), width, k), np.float32)
            for r, i in enumerate(idx):
                padded[r, :lengths[r]] = potentials[i]
            decoded = self._decode(padded, lengths)[0].numpy()
            probs = self._marginals(padded, lengths).numpy() if marginals else None
            for r, i in enumerate(idx):
                tags[i] = decoded[r, :lengths[r]]
                if marginals:
                    margs[i] = probs[r, :lengths[r]]
        return tags, margs

    def predict(self, encoded: Encoded) -> list[np.ndarray]:
        """Label ids per sentence."""
        return self.decode(self.sentence_potentials(encoded))[0]
