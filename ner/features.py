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
from typing import Iterator, Sequence

import numpy as np

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


def _take(pieces: Sequence[Sequence[int]], budget: int, reverse: bool) -> list[int]:
    """Up to `budget` wordpieces of whole words, nearest words first."""
    out: list[int] = []
    words = reversed(pieces) if reverse else pieces
    for word in words:
        if len(out) + len(word) > budget:
            break
        out = [*word, *out] if reverse else [*out, *word]
    return out


def make_windows(
    sentence_pieces: Sequence[Sequence[Sequence[int]]],
    max_seq_length: int,
    cls_id: int,
    sep_id: int,
    labels: Sequence[Sequence[int]] | None = None,
    documents: Sequence[int] | None = None,
    document_context: bool = False,
) -> tuple[list[Window], WindowStats]:
    """Cuts tokenized sentences into windows.

    Args:
        sentence_pieces: per sentence, per word, its wordpiece ids (every word
            has at least one: the tokenizer maps empty words to `[UNK]`).
        max_seq_length: wordpieces per window, `[CLS]` and `[SEP]` included.
        cls_id, sep_id: special token ids.
        labels: per sentence, per word, gold label ids; None to predict.
        documents: per sentence, the index of its document; context is only
            taken from sentences of the same document. None = each sentence
            is its own document.
        document_context: fill spare room with neighbouring sentences.

    Returns:
        (windows, stats).
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length={max_seq_length} leaves no room for a word")
    budget = max_seq_length - 2
    windows: list[Window] = []
    stats = WindowStats(sentences=len(sentence_pieces))
    for i, words in enumerate(sentence_pieces):
        stats.words += len(words)
        if not words:
            continue
        # A word longer than the whole window keeps its first pieces: the first
        # one carries its label, the rest are only context.
        if any(len(w) > budget for w in words):
            stats.truncated_words += sum(len(w) > budget for w in words)
            words = [w[:budget] for w in words]
        chunks = _chunks(words, budget)
        if len(chunks) > 1:
            stats.split_sentences += 1
        for start, end in chunks:
            core = [p for w in words[start:end] for p in w]
            spare = budget - len(core)
            left_words, right_words = list(words[:start]), list(words[end:])
            if document_context and len(chunks) == 1:
                left_words, right_words = _neighbours(sentence_pieces, documents, i)
            # Share the spare room: half each side, and what one side cannot
            # use goes to the other.
            left = _take(left_words, spare // 2, reverse=True)
            right = _take(right_words, spare - len(left), reverse=False)
            left = _take(left_words, spare - len(right), reverse=True)
            ids = [cls_id] + left + core + right + [sep_id]
            lengths = np.fromiter((len(w) for w in words[start:end]), np.int32, end - start)
            starts = 1 + len(left) + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
            windows.append(Window(
                input_ids=np.asarray(ids, np.int32),
                word_starts=starts.astype(np.int32),
                sentence=i,
                first_word=start,
                label_ids=None if labels is None else np.asarray(labels[i][start:end], np.int32),
            ))
    stats.windows = len(windows)
    return windows, stats


def _chunks(words: Sequence[Sequence[int]], budget: int) -> list[tuple[int, int]]:
    """Consecutive word ranges to label, each with room for context.

    A sentence that fits gets one range. A longer one gets ranges of at most
    half the budget, so every labelled word has at least a quarter of a window
    of same-sentence context on each side (except at the sentence's ends).
    """
    total = sum(len(w) for w in words)
    if total <= budget:
        return [(0, len(words))]
    core = max(1, budget // 2)
    chunks, start, used = [], 0, 0
    for j, w in enumerate(words):
        if j > start and used + len(w) > core:
            chunks.append((start, j))
            start, used = j, 0
        used += len(w)
    chunks.append((start, len(words)))
    return chunks


def _neighbours(sentence_pieces, documents, i):
    """Words of the sentences before and after sentence i in its document."""
    doc = None if documents is None else documents[i]
    left: list = []
    j = i - 1
    while doc is not None and j >= 0 and documents[j] == doc and len(left) < 512:
        left = list(sentence_pieces[j]) + left
        j -= 1
    right: list = []
    j = i + 1
    while doc is not None and j < len(sentence_pieces) and documents[j] == doc and len(right) < 512:
        right += list(sentence_pieces[j])
        j += 1
    return left, right


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


def assemble_potentials(
    windows: Sequence[Window],
    window_potentials: dict[int, np.ndarray],
    sentence_lengths: Sequence[int],
    num_tags: int,
) -> list[np.ndarray]:
    """Puts windows' word potentials back into whole sentences.

    Args:
        windows: the windows of `make_windows`.
        window_potentials: window index -> float32 [W, K] potentials of its
            labelled words.
        sentence_lengths: number of words per sentence.
        num_tags: K.

    Returns:
        Per sentence, float32 [words, K].

    Raises:
        ValueError: a word was covered by no window (a bug, never expected).
    """
    out = [np.zeros((n, num_tags), np.float32) for n in sentence_lengths]
    covered = [np.zeros(n, bool) for n in sentence_lengths]
    for i, w in enumerate(windows):
        pot = window_potentials[i]
        out[w.sentence][w.first_word:w.first_word + len(pot)] = pot
        covered[w.sentence][w.first_word:w.first_word + len(pot)] = True
    for s, c in enumerate(covered):
        if not c.all():
            raise ValueError(f"sentence {s}: words {np.flatnonzero(~c).tolist()} have no prediction")
    return out
