"""Words to model inputs: wordpiece windows, the word map, and length buckets.

The CRF runs over words, not wordpieces. Each word is represented by its
first wordpiece (BERT README's `orig_to_tok_map`), so sub-tokens, `[CLS]`,
`[SEP]` and padding never receive a label and no "X" label exists.

A *window* is one encoder input: `[CLS] left-context labelled-words
right-context [SEP]`. Every word of a sentence is labelled in exactly one
window. A sentence that fits in `max_seq_length` gets one window; a longer one
is cut into consecutive labelled chunks, each with words of the same sentence
on either side as context, so no word is ever dropped. With document context,
the spare room of a short sentence's window is filled with wordpieces of the
neighbouring sentences of the same document, labelled by nobody.

At prediction time the windows' word potentials are put back together per
sentence (`assemble_potentials`) and the CRF decodes whole sentences, so an
entity that crosses a window seam is decoded as one.

Shapes: B windows in a batch, S wordpieces, W labelled words.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

from ner import casing

# With `fixed_batch_size` (for XLA, which compiles once per shape), sequence
# and word-count lengths are rounded up to multiples of this, so few distinct
# shapes occur. Otherwise batches are padded to their longest window only.
BUCKET = 8


@dataclasses.dataclass
class Window:
    """One encoder input.

    Attributes:
        input_ids: int32 [S], `[CLS] ... [SEP]`.
        word_starts: int32 [W], position in `input_ids` of each labelled
            word's first wordpiece.
        sentence: index of the sentence in the list given to `make_windows`.
        first_word: index in that sentence of the first labelled word.
        label_ids: int32 [W] gold label ids, or None at prediction time.
    """

    input_ids: np.ndarray
    word_starts: np.ndarray
    sentence: int
    first_word: int
    label_ids: np.ndarray | None = None


@dataclasses.dataclass
class WindowStats:
    sentences: int = 0
    words: int = 0
    windows: int = 0
    split_sentences: int = 0  # sentences longer than one window
    truncated_words: int = 0  # words whose wordpieces alone overflow a window
    words_dropped: int = 0  # always 0; counted so that reports can show it


def document_splits(sentence_splits: tf.Tensor, documents: tf.Tensor) -> tf.Tensor:
    """Row splits of the words into documents: runs of sentences with one id.

    Args:
        sentence_splits: int64 [S + 1], row splits of the words into sentences.
        documents: int64 [S], each sentence's document id; consecutive
            sentences with the same id form one document.

    Returns:
        int64 [D + 1].
    """
    first = tf.concat([[True], documents[1:] != documents[:-1]], 0)  # [S]
    starts = tf.gather(sentence_splits[:-1], tf.where(first)[:, 0])  # [D]
    return tf.concat([starts, sentence_splits[-1:]], 0)


def plan_windows(offsets: tf.Tensor, sentence_splits: tf.Tensor, budget: int,
                 context_splits: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """Where every window's labelled words and wordpieces lie, in TF ops.

    The one implementation of the window rules in the module docstring:
    training (`make_windows`), `ner.Tagger` and the exported SavedModel all
    cut windows here. A sentence whose wordpieces fit `budget` is one labelled
    chunk; a longer one is cut greedily into chunks of at most `budget // 2`
    wordpieces (every chunk has at least one word). Context on either side is
    a run of whole words: from the same sentence, or, with `context_splits`,
    from the whole document for a sentence that is one chunk. Half the spare
    room goes to each side and what one side cannot use goes to the other.

    Args:
        offsets: int64 [N + 1], cumulative wordpieces of the words (word n's
            pieces are [offsets[n], offsets[n + 1]); every word has 1 to
            `budget` pieces).
        sentence_splits: int64 [S + 1], row splits of the words into sentences.
        budget: wordpieces per window between `[CLS]` and `[SEP]`.
        context_splits: int64 [D + 1], row splits of the words into documents
            whose other sentences are context; None for none.

    Returns:
        dict of int64 [V] tensors, windows in word order: `first` and `end`,
        the labelled words [first, end) (flat word indices), and
        `piece_start` and `piece_end`, the wordpieces between `[CLS]` and
        `[SEP]` (flat piece indices).
    """
    count = tf.shape(offsets, out_type=tf.int64)[0] - 1  # N
    word_index = tf.range(count)
    sentence_of_word = tf.RaggedTensor.from_row_splits(
        word_index, sentence_splits, validate=False).value_rowids()  # [N]
    sentence_lo, sentence_hi = sentence_splits[:-1], sentence_splits[1:]  # [S]
    long_sentence = (tf.gather(offsets, sentence_hi) - tf.gather(offsets, sentence_lo)
                     > budget)  # [S]
    sentence_first = tf.equal(word_index, tf.gather(sentence_lo, sentence_of_word))  # [N]
    opens = _chunk_starts(offsets[1:] - offsets[:-1], sentence_first,
                          tf.gather(long_sentence, sentence_of_word), budget)  # [N]

    first = tf.where(opens)[:, 0]  # [V]
    end = tf.concat([first[1:], tf.reshape(count, [1])], 0)  # [V]: chunks tile the words
    sentence = tf.gather(sentence_of_word, first)  # [V]
    lo, hi = tf.gather(sentence_lo, sentence), tf.gather(sentence_hi, sentence)
    if context_splits is not None:
        # A sentence in one window sees the rest of its document; a cut one
        # only its own sentence.
        document = tf.RaggedTensor.from_row_splits(
            word_index, context_splits, validate=False).value_rowids()  # [N]
        doc = tf.gather(document, first)  # [V]
        whole = ~tf.gather(long_sentence, sentence)
        lo = tf.where(whole, tf.gather(context_splits, doc), lo)
        hi = tf.where(whole, tf.gather(context_splits, doc + 1), hi)

    at_first, at_end = tf.gather(offsets, first), tf.gather(offsets, end)  # [V]
    spare = budget - (at_end - at_first)  # [V]

    # The nearest whole words that fit `room` pieces. Cumulative counts grow
    # strictly with the word index, so the run is a binary search.
    def left(room):
        i = tf.searchsorted(offsets, at_first - room, side="left", out_type=tf.int64)
        return tf.maximum(i, lo)

    def right(room):
        j = tf.searchsorted(offsets, at_end + room, side="right", out_type=tf.int64) - 1
        return tf.minimum(j, hi)

    i = left(spare // 2)
    j = right(spare - (at_first - tf.gather(offsets, i)))
    i = left(spare - (tf.gather(offsets, j) - at_end))
    return {"first": first, "end": end,
            "piece_start": tf.gather(offsets, i), "piece_end": tf.gather(offsets, j)}


def _chunk_starts(lengths, sentence_first, in_long_sentence, budget: int):
    """Whether each word opens a labelled chunk.

    Args:
        lengths: int64 [N] wordpieces per word.
        sentence_first: bool [N], the word opens its sentence.
        in_long_sentence: bool [N], its sentence exceeds one window.

    Returns:
        bool [N].
    """
    core = max(1, budget // 2)
    idx = tf.where(in_long_sentence)[:, 0]  # [M] words of long sentences only
    lengths_m = tf.gather(lengths, idx)
    first_m = tf.gather(sentence_first, idx)
    m = tf.size(idx)

    # Greedy and sequential: a chunk ends where the next word would take it
    # past `core` pieces.
    def body(k, used, flags):
        length = lengths_m[k]
        opens = first_m[k] | (used + length > core)
        return k + 1, tf.where(opens, length, used + length), flags.write(k, opens)

    _, _, flags = tf.while_loop(
        lambda k, used, flags: k < m, body,
        (tf.constant(0), tf.constant(0, tf.int64),
         tf.TensorArray(tf.bool, size=m, element_shape=[])))
    return tf.tensor_scatter_nd_update(sentence_first, idx[:, None], flags.stack())


@functools.lru_cache(maxsize=None)
def _compiled_plan(budget: int, context: bool):
    ids = tf.TensorSpec([None], tf.int64)
    if context:
        return tf.function(lambda o, s, c: plan_windows(o, s, budget, c),
                           input_signature=[ids, ids, ids], autograph=False)
    return tf.function(lambda o, s: plan_windows(o, s, budget),
                       input_signature=[ids, ids], autograph=False)


def make_windows(
    sentence_pieces: Sequence[Sequence[Sequence[int]]],
    max_seq_length: int,
    cls_id: int,
    sep_id: int,
    labels: Sequence[Sequence[int]] | None = None,
    documents: Sequence[int] | None = None,
    document_context: bool = False,
) -> tuple[list[Window], WindowStats]:
    """Cuts tokenized sentences into windows (`plan_windows`), as numpy records.

    Args:
        sentence_pieces: per sentence, per word, its wordpiece ids (every word
            has at least one: the tokenizer maps empty words to `[UNK]`).
        max_seq_length: wordpieces per window, `[CLS]` and `[SEP]` included.
        cls_id, sep_id: special token ids.
        labels: per sentence, per word, gold label ids; None to predict.
        documents: per sentence, the index of its document; context is only
            taken from consecutive sentences of the same document. None = each
            sentence is its own document.
        document_context: fill spare room with neighbouring sentences.

    Returns:
        (windows, stats).
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length={max_seq_length} leaves no room for a word")
    budget = max_seq_length - 2
    words = [w for sentence in sentence_pieces for w in sentence]
    full = np.fromiter((len(w) for w in words), np.int64, len(words))
    stats = WindowStats(sentences=len(sentence_pieces), words=len(words),
                        truncated_words=int((full > budget).sum()))
    if not words:
        return [], stats
    # A word longer than the whole window keeps its first pieces: the first
    # one carries its label, the rest are only context.
    flat = np.concatenate([np.asarray(w[:budget], np.int32) for w in words])
    offsets = np.concatenate([[0], np.cumsum(np.minimum(full, budget))])
    sentence_lengths = np.fromiter((len(s) for s in sentence_pieces), np.int64,
                                   len(sentence_pieces))
    splits = np.concatenate([[0], np.cumsum(sentence_lengths)])
    args = [offsets, splits]
    if document_context and documents is not None:
        args.append(document_splits(tf.constant(splits, tf.int64),
                                    tf.constant(documents, tf.int64)))
    plan = {k: v.numpy() for k, v in _compiled_plan(budget, len(args) == 3)(*args).items()}
    flat_labels = None if labels is None else np.concatenate(
        [np.asarray(labels[i], np.int32).reshape(-1) for i in range(len(sentence_pieces))])
    sentence_of_word = np.repeat(np.arange(len(sentence_pieces)), sentence_lengths)
    windows = []
    for first, end, lo, hi in zip(plan["first"].tolist(), plan["end"].tolist(),
                                  plan["piece_start"].tolist(), plan["piece_end"].tolist()):
        sentence = int(sentence_of_word[first])
        windows.append(Window(
            input_ids=np.concatenate([[cls_id], flat[lo:hi], [sep_id]]).astype(np.int32),
            word_starts=(1 + offsets[first:end] - lo).astype(np.int32),
            sentence=sentence,
            first_word=first - int(splits[sentence]),
            label_ids=None if flat_labels is None else flat_labels[first:end],
        ))
    stats.windows = len(windows)
    stats.split_sentences = int(np.count_nonzero(np.bincount(
        sentence_of_word[plan["first"]], minlength=len(sentence_pieces)) > 1))
    return windows, stats

def bucket_length(n: int, multiple: int = BUCKET) -> int:
    """`n` rounded up to a multiple of `multiple` (at least `multiple`)."""
    return max(multiple, -(-n // multiple) * multiple)


@dataclasses.dataclass
class Batch:
    """Padded arrays for a batch of windows.

    Attributes:
        input_ids: int32 [B, S]; input_mask: int32 [B, S].
        word_starts: int32 [B, W]; word_lengths: int32 [B].
        label_ids: int32 [B, W] (zeros at padding and when predicting).
        index: int [B] index into the window list, -1 for padding rows.
    """

    input_ids: np.ndarray
    input_mask: np.ndarray
    word_starts: np.ndarray
    word_lengths: np.ndarray
    label_ids: np.ndarray
    index: np.ndarray

    def features(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "input_mask": self.input_mask,
                "word_starts": self.word_starts, "word_lengths": self.word_lengths}


def pad_batch(windows: Sequence[Window], indices: Sequence[int], batch_size: int | None = None,
              multiple: int = BUCKET) -> Batch:
    """Pads windows to their longest, rounded up to `multiple`; pads the batch with empty rows.

    Empty rows (`word_lengths == 0`) contribute nothing to the CRF loss; they
    keep the batch dimension fixed so a compiled step is reused.
    """
    rows = batch_size or len(indices)
    seq = bucket_length(max(len(windows[i].input_ids) for i in indices), multiple)
    width = bucket_length(max(len(windows[i].word_starts) for i in indices), multiple)
    ids = np.zeros((rows, seq), np.int32)
    mask = np.zeros((rows, seq), np.int32)
    starts = np.zeros((rows, width), np.int32)
    lengths = np.zeros((rows,), np.int32)
    labels = np.zeros((rows, width), np.int32)
    index = np.full((rows,), -1, np.int64)
    for r, i in enumerate(indices):
        w = windows[i]
        ids[r, :len(w.input_ids)] = w.input_ids
        mask[r, :len(w.input_ids)] = 1
        starts[r, :len(w.word_starts)] = w.word_starts
        lengths[r] = len(w.word_starts)
        if w.label_ids is not None:
            labels[r, :len(w.label_ids)] = w.label_ids
        index[r] = i
    return Batch(ids, mask, starts, lengths, labels, index)


def batches(
    windows: Sequence[Window],
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    fixed_batch_size: bool = False,
) -> Iterator[Batch]:
    """Batches of windows of about the same length, padded to their longest.

    Windows are sorted by length (ties in random order with `shuffle`) and
    cut into consecutive runs of `batch_size`, so a batch wastes almost no
    compute on padding: on CoNLL-2003 train 20.1 wordpieces per row against
    20.0 real and 53.2 for random batches of 32 padded to their longest
    (`scripts/padding_stats.py`). With `shuffle` the batches are also visited
    in random order; both draws come from `seed`, so an epoch's order is a
    function of the seed and the epoch alone (a resumed run replays it).

    With `fixed_batch_size` (for XLA, which compiles once per shape) windows
    are grouped by length rounded up to a multiple of `BUCKET` instead, and
    every batch is padded to `batch_size` rows, so few shapes occur.
    """
    rng = np.random.default_rng(seed)
    lengths = np.array([len(w.input_ids) for w in windows], np.int64)
    order = rng.permutation(len(windows)) if shuffle else np.arange(len(windows))
    if fixed_batch_size:
        lengths = np.array([bucket_length(n) for n in lengths], np.int64)
    order = order[np.argsort(lengths[order], kind="stable")]
    # Consecutive runs of the sorted order; with buckets, one bucket per batch.
    runs = np.split(order, np.flatnonzero(np.diff(lengths[order])) + 1) if fixed_batch_size else [order]
    groups = [run[k:k + batch_size] for run in runs for k in range(0, len(run), batch_size)]
    padding = {"batch_size": batch_size} if fixed_batch_size else {"multiple": 1}
    visit = rng.permutation(len(groups)) if shuffle else range(len(groups))
    for g in visit:
        yield pad_batch(windows, groups[g], **padding)


@dataclasses.dataclass
class Encoded:
    """Tokenized sentences cut into windows."""

    windows: list[Window]
    stats: WindowStats
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
    """Tokenizes word lists and cuts them into training windows (`make_windows`).

    Args:
        sentences: per sentence, its words: Python lists of `str`, or a string
            RaggedTensor [B, (W)].
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
    windows, stats = make_windows(
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
