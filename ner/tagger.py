"""Tag raw text with a trained model: `ner.Tagger` and `ner.Entity`.

Example (the model of `python -m ner.train --output_dir=runs/default`):
    >>> import ner
    >>> tagger = ner.Tagger.load("runs/default")  # a training output folder or its model/
    >>> text = "Angela Merkel met Emmanuel Macron in Paris on Tuesday. The EU summit ends today."
    >>> for entity in tagger.tag(text):
    ...     print(entity.label, entity.start, entity.end, repr(entity.text), round(entity.score, 3))
    PER 0 13 'Angela Merkel' 1.0
    PER 18 33 'Emmanuel Macron' 1.0
    LOC 37 42 'Paris' 1.0
    ORG 59 61 'EU' 0.999

From text to entities, for a whole batch of texts at once:

1. Words. `Tokenizer.split_words_with_offsets` splits every text into words
   with UTF-8 byte offsets (rules in `ner/tokenization.py`: whitespace
   separates words, every punctuation character and CJK ideograph is a word,
   "U.S."-style abbreviations stay whole, control and zero-width characters
   stay inside their word, and a word with no wordpieces is dropped).
2. Sentences. The model was trained on CoNLL sentences, so words are grouped
   into sentences: a new sentence begins after a word ".", "!" or "?" when
   the next word starts with an upper-case (or title-case) letter, and after
   a blank line (two or more line breaks between words). Nothing else splits
   a sentence: "in the U.S. Army" stays whole ("U.S." is one word), and so
   does "he said. the"; a title before a name ("Dr. Smith") does split, a
   price of the simple rule. Sentence length is unlimited: long sentences
   are cut into overlapping windows (`ner.features`), every word is labelled
   in exactly one window, and the CRF decodes the whole sentence, so no
   entity is cut or duplicated at a seam. If the model was trained with
   `document_context`, the other sentences of the same text are its context.
3. Potentials. All sentences of all texts go through one `encode_sentences`
   call and one encoder pass over batches of windows sorted by length.
4. Decoding. Constrained Viterbi (the CRF masks forbid e.g. `O -> I-PER`),
   batched over sentences sorted by length. An entity is a maximal run of
   words of one type as the scheme chunks them (IOB2 or BIOES). Its score is
   the CRF probability that exactly these words carry exactly these tags
   (`CRF.span_probability`), marginalising over the rest of the sentence.
5. Offsets. Byte offsets become Python character (code point) offsets by a
   cumulative count of the UTF-8 lead bytes over the concatenated texts
   (numpy, no per-character loop). The span is then trimmed of leading and
   trailing whitespace and of characters the tokenizer deletes (control and
   format characters such as U+200B), so `entity.text == text[start:end]`
   never begins or ends with them.

`tag_tokens` skips steps 1, 2 and 5 for pre-tokenised (CoNLL-style) input and
returns one label per word.

Shapes: B sentences in a decode batch, W words, K tags, N entities of a
sentence; "flat" arrays run over all words of all texts of a call.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from ner import features
from ner.inference import Encoded, encode_sentences
from ner.model import CONFIG_FILE, VOCAB_FILE, TaggerModel
from ner.tokenization import Tokenizer

__all__ = ["Entity", "Tagger"]

# A sentence-final word: one of . ! ? with any marks or control characters
# the splitter keeps attached to it.
_FINAL_WORD = r"[.!?][\pM\pC]*"
# A word that can open a sentence after a final word.
_CAPITALISED_WORD = r"(?s)\pC*[\p{Lu}\p{Lt}].*"
# Lone surrogates cannot be encoded as UTF-8; each becomes U+FFFD, one code
# point for one, so character offsets stay those of the user's string (the
# tokenizer deletes U+FFFD, as the reference BERT tokenizer does).
_SURROGATE = re.compile("[\ud800-\udfff]")
# Texts per internal chunk of `tag_batch`: bounds memory for huge batches;
# chunks are independent, so results do not depend on it.
_TEXTS_PER_CHUNK = 4096
# Upper bound on sentences x padded words in one CRF decoding batch.
_DECODE_CELLS = 1 << 15
# Upper bound on windows x padded wordpieces in one encoder batch. Batches are
# runs of windows sorted by length, padded to their longest only: on the
# CoNLL-2003 test set that pads 65,074 wordpieces to 70,301, against 76,808
# for `features.batches` (multiples of 8), and the encoder pass takes 12.3 s
# against 15.8 s (2 shared cores). 2,048-4,096 measured best; 16,384 is slower.
_BATCH_TOKENS = 4096


@dataclasses.dataclass(frozen=True)
class Entity:
    """One entity found in a text.

    Attributes:
        label: the entity type, e.g. "PER" (never "B-PER").
        start: character offset of its first character in the text passed
            to `Tagger.tag` (a Python `str` index).
        end: character offset just after its last character (exclusive).
        text: `text[start:end]`, with no leading or trailing whitespace.
        score: probability under the CRF, in [0, 1], that exactly these words
            carry exactly this labelling (e.g. B-PER I-PER).
    """

    label: str
    start: int
    end: int
    text: str
    score: float


class Tagger:
    """A trained model plus its tokenizer, for tagging text.

    Build one with `Tagger.load(model_dir)`.

    Args:
        model: the tagging model.
        tokenizer: its tokenizer (the model folder's vocab.txt and casing).
        batch_size: at most this many windows per encoder batch (fewer when
            long windows would exceed 4,096 padded wordpieces).
    """

    def __init__(self, model: TaggerModel, tokenizer: Tokenizer, batch_size: int = 128):
        _check_batch_size(batch_size)
        self.model = model
        self.tokenizer = tokenizer
        self._tokens = _CompiledTokenizer.of(tokenizer)
        self.config = model.config
        self.labels = list(model.config.labels)
        self.batch_size = batch_size
        self._num_tags = len(self.labels)
        self._types: list[str] = []
        # Per tag: entity type index (-1 for O), whether it opens a chunk
        # (B, S) and whether it closes one (E, S).
        type_of, opens, closes = [], [], []
        for position, label in enumerate(self.labels):
            prefix, _, entity_type = label.partition("-")
            if label == "O":
                type_of.append(-1)
            elif prefix in ("B", "I", "E", "S") and entity_type:
                if entity_type not in self._types:
                    self._types.append(entity_type)
                type_of.append(self._types.index(entity_type))
            else:
                raise ValueError(f"label {position} {label!r}: expected 'O' or '<B|I|E|S>-<TYPE>'")
            opens.append(prefix in ("B", "S"))
            closes.append(prefix in ("E", "S"))
        self._type_of = np.asarray(type_of, np.int64)
        self._opens = np.asarray(opens, bool)
        self._closes = np.asarray(closes, bool)

        pot = tf.TensorSpec([None, None, self._num_tags], tf.float32)
        lengths = tf.TensorSpec([None], tf.int32)
        matrix = tf.TensorSpec([None, None], tf.int32)
        # Unknown dimensions: one trace serves every batch shape. No AutoGraph:
        # there is no tensor-dependent Python control flow to convert.
        self._potentials_fn = tf.function(
            functools.partial(model.potentials, training=False),
            input_signature=[matrix, matrix, matrix, lengths], autograph=False)
        self._decode_fn = tf.function(model.crf.decode, input_signature=[pot, lengths],
                                      autograph=False)
        self._span_fn = tf.function(model.crf.span_probability,
                                    input_signature=[pot, lengths, matrix, matrix, matrix],
                                    autograph=False)

    # === Loading ===

    @classmethod
    def load(cls, model_dir: str | os.PathLike, batch_size: int = 128,
             compute_dtype: tf.DType = tf.float32) -> "Tagger":
        """Loads a model folder written by `python -m ner.train`.

        Args:
            model_dir: the model folder (tagger_config.json, vocab.txt,
                model.ckpt.*) or a training output folder holding `model/`.
            batch_size: at most this many windows per encoder batch.
            compute_dtype: the encoder's compute dtype; `tf.bfloat16` pays on
                GPUs and CPUs with AMX (see `ner.train.cpu_has_fast_bfloat16`).

        Returns:
            The tagger.

        Raises:
            FileNotFoundError: no such folder, or it is neither a model folder
                nor a training output folder with a finished `model/`, or a
                file of the model folder is missing.
            ValueError: tagger_config.json or vocab.txt is invalid, or the
                weights do not match the config (the message names the file).
        """
        folder = _resolve_model_dir(Path(model_dir))
        model = TaggerModel.load(folder, compute_dtype=compute_dtype)
        tokenizer = Tokenizer(folder / VOCAB_FILE, do_lower_case=model.config.do_lower_case)
        return cls(model, tokenizer, batch_size=batch_size)

    @property
    def entity_types(self) -> list[str]:
        """The entity types the model knows, e.g. ["LOC", "MISC", "ORG", "PER"]."""
        return sorted(self._types)

    # === Public tagging API ===

    def tag(self, text: str) -> list[Entity]:
        """Entities of one text, in order of their start offset.

        Args:
            text: any Python string; empty or whitespace-only gives [].

        Returns:
            The entities.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return self.tag_batch([text])[0]

    def tag_batch(self, texts: Iterable[str], batch_size: int | None = None) -> list[list[Entity]]:
        """Entities of each text; the same as `tag` on each text one by one.

        All sentences of all texts share one tokenization call, one pass of
        length-bucketed encoder batches and batched CRF decoding.

        Args:
            texts: Python strings.
            batch_size: at most this many windows per encoder batch; defaults
                to the tagger's.

        Returns:
            Per text, its entities in order of their start offset.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
        batch_size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        out: list[list[Entity]] = []
        for first in range(0, len(texts), _TEXTS_PER_CHUNK):
            out += self._tag_chunk(texts[first:first + _TEXTS_PER_CHUNK], batch_size)
        return out

    def tag_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int | None = None,
                   documents: Sequence[int] | None = None) -> list[list[str]]:
        """One label per word for pre-tokenised sentences (CoNLL-style input).

        Args:
            sentences: per sentence, its words (`str`). Every word gets a
                label, even one with no wordpieces (it is read as "[UNK]").
            batch_size: at most this many windows per encoder batch; defaults
                to the tagger's.
            documents: per sentence, the index of its document; with a model
                trained with `document_context`, neighbouring sentences of the
                same document are context. None: each sentence alone.

        Returns:
            Per sentence, a label (e.g. "B-PER") for each word; the sequences
            are valid in the model's scheme.
        """
        if isinstance(sentences, str):
            raise TypeError("sentences must be a list of word lists, got a single string")
        sentences = list(sentences)
        if documents is not None and len(documents) != len(sentences):
            raise ValueError(f"documents has {len(documents)} entries for "
                             f"{len(sentences)} sentences")
        if not sentences:
            return []
        encoded = encode_sentences(self._tokens, _ragged_words(sentences),
                                   self.config.max_seq_length, documents=documents,
                                   document_context=self.config.document_context,
                                   pack_vocab_size=self.config.packing_vocab_size)
        batch_size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        lengths = np.asarray(encoded.sentence_lengths, np.int64)
        tags, _ = self._decode(self._potentials(encoded, batch_size), lengths, entities=False)
        labels = np.asarray(self.labels, dtype=object)[tags]
        return [part.tolist() for part in np.split(labels, np.cumsum(lengths)[:-1])]

    def split_sentences(self, text: str) -> list[tuple[int, int]]:
        """How `tag` splits a text into sentences, as character spans.

        Args:
            text: a Python string.

        Returns:
            (start, end) character offsets of each sentence, from the start of
            its first word to the end of its last word.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        words = _Words.split(self._tokens, [text])
        if not words.count:
            return []
        first = words.sentence_splits[:-1]
        last = words.sentence_splits[1:] - 1
        return list(zip(words.char_start[first].tolist(), words.char_end[last].tolist()))

    # === Internals ===

    def _potentials(self, encoded: Encoded, batch_size: int) -> np.ndarray:
        """Word potentials of all sentences, float32 [total words, K].

        Windows are sorted by length and cut into batches of at most
        `batch_size` windows and `_BATCH_TOKENS` padded wordpieces, each
        padded to its own longest window (see `_BATCH_TOKENS` for why not
        `features.batches`).
        """
        windows = encoded.windows
        sizes = np.fromiter((len(w.input_ids) for w in windows), np.int64, len(windows))
        by_window: dict[int, np.ndarray] = {}
        for idx in window_batches(sizes, batch_size):
            words = np.fromiter((len(windows[i].word_starts) for i in idx), np.int32, len(idx))
            ids = np.zeros((len(idx), sizes[idx[-1]]), np.int32)  # [B, S]
            mask = np.zeros_like(ids)
            starts = np.zeros((len(idx), words.max()), np.int32)  # [B, W]
            for r, i in enumerate(idx):
                ids[r, :sizes[i]] = windows[i].input_ids
                mask[r, :sizes[i]] = 1
                starts[r, :words[r]] = windows[i].word_starts
            pot = self._potentials_fn(ids, mask, starts, words).numpy()  # [B, W, K]
            for r, i in enumerate(idx):
                by_window[int(i)] = pot[r, :words[r]]
        per_sentence = features.assemble_potentials(windows, by_window, encoded.sentence_lengths,
                                                    self._num_tags)
        if not per_sentence:
            return np.zeros((0, self._num_tags), np.float32)
        return np.concatenate(per_sentence)

    def _tag_chunk(self, texts: list[str], batch_size: int) -> list[list[Entity]]:
        words = _Words.split(self._tokens, texts)
        result: list[list[Entity]] = [[] for _ in texts]
        if not words.count:
            return result
        splits = words.sentence_splits
        by_sentence = tf.RaggedTensor.from_row_splits(words.strings, splits, validate=False)
        encoded = encode_sentences(
            self._tokens, by_sentence, self.config.max_seq_length,
            documents=words.text_of_word[splits[:-1]].tolist(),
            document_context=self.config.document_context,
            pack_vocab_size=self.config.packing_vocab_size)
        potentials = self._potentials(encoded, batch_size)  # [words, K]
        _, spans = self._decode(potentials, np.diff(splits), entities=True)
        first, last, type_ids, scores = spans
        text_ids = words.text_of_word[first]
        starts, ends = words.char_start[first], words.char_end[last]
        for t, s, e, k, p in zip(text_ids.tolist(), starts.tolist(), ends.tolist(),
                                 type_ids.tolist(), scores.tolist()):
            text = texts[t]
            s, e = _trim(text, s, e)
            result[t].append(Entity(self._types[k], s, e, text[s:e], min(1.0, max(0.0, p))))
        return result

    def _decode(self, potentials: np.ndarray, lengths: np.ndarray, entities: bool):
        """Constrained Viterbi over sentences, and optionally entity spans.

        Args:
            potentials: float32 [total words, K], sentences one after another.
            lengths: int [sentences], words per sentence (may be 0).
            entities: also find entities and their scores.

        Returns:
            (tags, spans): tags int [total words]; spans None, or a tuple of
            flat word index of each entity's first word, of its last word,
            its type index and its score, entities ordered by first word.
        """
        lengths = np.asarray(lengths, np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        tags = np.zeros(len(potentials), np.int64)
        spans = [[], [], [], []]
        order = np.argsort(lengths, kind="stable")
        order = order[lengths[order] > 0]
        # Padded widths are `features.bucket_length` of each sentence's length,
        # so few distinct shapes reach the CRF.
        step = features.BUCKET
        bucketed = np.maximum(step, -(-lengths[order] // step) * step)
        b = 0
        while b < len(order):
            # The longest run of sentences (sorted by length) whose padded
            # batch, rows x its widest bucket, stays within _DECODE_CELLS.
            end = min(len(order), b + max(1, _DECODE_CELLS // int(bucketed[b])))
            while end - b > 1 and (end - b) * int(bucketed[end - 1]) > _DECODE_CELLS:
                end = b + max(1, _DECODE_CELLS // int(bucketed[end - 1]))
            idx = order[b:end]
            width = int(bucketed[end - 1])
            b = end
            n = lengths[idx]
            row = np.repeat(np.arange(len(idx)), n)  # [words of the batch]
            col = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
            flat = np.repeat(offsets[idx], n) + col  # index into the flat arrays
            padded = np.zeros((len(idx), width, self._num_tags), np.float32)  # [B, W, K]
            padded[row, col] = potentials[flat]
            decoded = self._decode_fn(padded, n.astype(np.int32))[0].numpy()  # [B, W]
            tags[flat] = decoded[row, col]
            if entities:
                found = self._entities(decoded, n)
                if found is not None:
                    r, first, last, type_ids, rank = found
                    span_starts = np.zeros((len(idx), int(rank.max()) + 1), np.int32)  # [B, N]
                    span_ends = np.zeros_like(span_starts)
                    span_starts[r, rank] = first
                    span_ends[r, rank] = last + 1
                    probs = self._span_fn(padded, n.astype(np.int32), decoded.astype(np.int32),
                                          span_starts, span_ends).numpy()  # [B, N]
                    base = offsets[idx][r]
                    for part, values in zip(spans, (base + first, base + last, type_ids,
                                                    probs[r, rank])):
                        part.append(values)
        if not entities:
            return tags, None
        if not spans[0]:
            empty = np.zeros(0, np.int64)
            return tags, (empty, empty, empty, np.zeros(0, np.float32))
        first, last, type_ids, scores = (np.concatenate(p) for p in spans)
        order = np.argsort(first, kind="stable")
        return tags, (first[order], last[order], type_ids[order], scores[order])

    def _entities(self, tags: np.ndarray, lengths: np.ndarray):
        """Chunks of decoded tags.

        Args:
            tags: int [B, W] decoded tags; lengths: int [B].

        Returns:
            None when there is no entity, else int arrays over the entities:
            (row, first word, last word, type index, rank within its row).
        """
        width = tags.shape[1]
        real = np.arange(width)[None, :] < lengths[:, None]  # [B, W]
        kind = np.where(real, self._type_of[tags], -1)  # [B, W]
        opens, closes = self._opens[tags] & real, self._closes[tags] & real
        pad = np.full((len(tags), 1), -1)
        prev_kind = np.concatenate([pad, kind[:, :-1]], axis=1)
        next_kind = np.concatenate([kind[:, 1:], pad], axis=1)
        no = np.zeros((len(tags), 1), bool)
        prev_closes = np.concatenate([no, closes[:, :-1]], axis=1)
        next_opens = np.concatenate([opens[:, 1:], no], axis=1)
        # conlleval's chunking: a type change, B/S, or an E/S before it starts
        # a chunk; the mirror conditions end one. Under the scheme's
        # constraints these are exactly the scheme's entities.
        starts = (kind >= 0) & ((prev_kind != kind) | opens | prev_closes)
        ends = (kind >= 0) & ((next_kind != kind) | closes | next_opens)
        row, first = np.nonzero(starts)
        row_end, last = np.nonzero(ends)
        if not len(row):
            return None
        assert np.array_equal(row, row_end) and np.all(first <= last)
        counts = np.bincount(row, minlength=len(tags))
        rank = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        return row, first, last, kind[row, first], rank


@dataclasses.dataclass
class _Words:
    """The words of a batch of texts, grouped into sentences.

    Attributes:
        strings: string tf.Tensor [N], each word's original UTF-8 bytes.
        text_of_word: int [N], index of the word's text.
        char_start, char_end: int [N], character offsets into its text.
        sentence_splits: int [sentences + 1], row splits of the words into
            sentences (sentences never span two texts).
    """

    strings: tf.Tensor
    text_of_word: np.ndarray
    char_start: np.ndarray
    char_end: np.ndarray
    sentence_splits: np.ndarray

    @property
    def count(self) -> int:
        return len(self.text_of_word)

    @classmethod
    def split(cls, tokens: "_CompiledTokenizer", texts: Sequence[str]) -> "_Words":
        encoded = [_utf8(text) for text in texts]
        words, starts, ends = tokens.split_words_with_offsets(
            tf.constant(encoded, dtype=tf.string, shape=[len(encoded)]))  # [B, (W)]
        text_of_word = words.value_rowids().numpy()  # [N]
        strings = words.flat_values  # [N]
        # Byte offsets into the concatenation of all texts.
        base = np.concatenate([[0], np.cumsum([len(b) for b in encoded])])
        byte_start = starts.flat_values.numpy() + base[text_of_word]
        byte_end = ends.flat_values.numpy() + base[text_of_word]
        data = np.frombuffer(b"".join(encoded), np.uint8)
        # chars_before[i]: code points before byte i of the concatenation
        # (every UTF-8 byte that is not a continuation byte starts one).
        chars_before = np.concatenate([[0], np.cumsum((data & 0xC0) != 0x80)])
        text_char_base = chars_before[base[text_of_word]]
        char_start = chars_before[byte_start] - text_char_base
        char_end = chars_before[byte_end] - text_char_base

        n = len(text_of_word)
        boundary = np.ones(n, bool)
        if n > 1:
            final = tf.strings.regex_full_match(strings, _FINAL_WORD).numpy()
            capital = tf.strings.regex_full_match(strings, _CAPITALISED_WORD).numpy()
            # Line breaks: "\n", and "\r" not followed by "\n" (old Mac files).
            following = np.concatenate([data[1:], [0]]).astype(np.uint8)
            breaks = (data == 10) | ((data == 13) & (following != 10))
            breaks_before = np.concatenate([[0], np.cumsum(breaks)])
            gap_breaks = breaks_before[byte_start[1:]] - breaks_before[byte_end[:-1]]  # [N-1]
            new_text = text_of_word[1:] != text_of_word[:-1]
            boundary[1:] = new_text | (final[:-1] & capital[1:]) | (gap_breaks >= 2)
        splits = np.concatenate([np.flatnonzero(boundary), [n]]).astype(np.int64)
        return cls(strings, text_of_word, char_start, char_end, splits)


class _CompiledTokenizer:
    """A tokenizer's TF functions, traced once per vocabulary and casing.

    Called eagerly, the tokenizer's regular-expression ops rebuild their
    large Unicode classes on every call (about 100 ms for one short text);
    traced, a call takes about 3 ms. Taggers of the same vocabulary and casing
    share one instance, so loading a model again does not trace again.
    Quacks like a `Tokenizer` for `encode_sentences`.
    """

    _cache: dict[tuple, "_CompiledTokenizer"] = {}

    def __init__(self, tokenizer: Tokenizer):
        self.cls_id, self.sep_id = tokenizer.cls_id, tokenizer.sep_id
        self.split_words_with_offsets = tf.function(
            tokenizer.tf_split_words_with_offsets,
            input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        self.tokenize_words = tf.function(
            tokenizer.tf_tokenize_words,
            input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1,
                                                 row_splits_dtype=tf.int64)], autograph=False)

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> "_CompiledTokenizer":
        key = (tuple(tokenizer.vocab), tokenizer.do_lower_case, tokenizer.max_chars_per_word)
        if key not in cls._cache:
            cls._cache[key] = cls(tokenizer)
        return cls._cache[key]


def _ragged_words(sentences: Sequence[Sequence[str]]) -> tf.RaggedTensor:
    """Word lists as a string RaggedTensor [B, (W)] with int64 row splits."""
    flat, lengths = [], []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
            raise TypeError(f"sentences[{i}] must be a list of str, got {type(sentence).__name__}")
        for j, word in enumerate(sentence):
            if not isinstance(word, str):
                raise TypeError(f"sentences[{i}][{j}] must be str, got {type(word).__name__}")
        flat += [_utf8(word) for word in sentence]
        lengths.append(len(sentence))
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, tf.string, shape=[len(flat)]),
        tf.constant(lengths, tf.int64, shape=[len(lengths)]), validate=False)


def window_batches(sizes: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """How `Tagger` batches windows for the encoder.

    Args:
        sizes: int [windows], wordpieces per window.
        batch_size: at most this many windows per batch.

    Returns:
        Per batch, int window indices, shortest first: consecutive runs of
        the windows sorted by size, each within `batch_size` windows and
        `_BATCH_TOKENS` padded wordpieces (a window longer than that alone).
    """
    order = np.argsort(sizes, kind="stable")
    batches, b = [], 0
    while b < len(order):
        end = min(len(order), b + batch_size)
        # Sorted, so the last window of a run is its longest.
        while end - b > 1 and (end - b) * sizes[order[end - 1]] > _BATCH_TOKENS:
            end = b + max(1, _BATCH_TOKENS // int(sizes[order[end - 1]]))
        batches.append(order[b:end])
        b = end
    return batches


def _check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def _blank(char: str) -> bool:
    """Whitespace, or a character the tokenizer deletes (control, format...)."""
    return char.isspace() or unicodedata.category(char)[0] == "C"


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrinks [start, end) past blank characters at either edge.

    Words always hold at least one character that yields a wordpiece, so the
    span never becomes empty.
    """
    while start < end and _blank(text[start]):
        start += 1
    while end > start and _blank(text[end - 1]):
        end -= 1
    return start, end


def _resolve_model_dir(path: Path) -> Path:
    """The model folder for `path`: itself, or its `model/` subfolder."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model folder")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a folder; expected a model folder "
                                f"({CONFIG_FILE}, {VOCAB_FILE}, model.ckpt.*) or a training "
                                f"output folder holding model/")
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / "model" / CONFIG_FILE).is_file():
        return path / "model"
    if (path / "checkpoints").is_dir() or (path / "tensorboard").is_dir():
        raise FileNotFoundError(f"{path}: a training output folder without model/{CONFIG_FILE}; "
                                f"the best model is written there after the first epoch")
    raise FileNotFoundError(f"{path}: not a model folder: neither {path / CONFIG_FILE} nor "
                            f"{path / 'model' / CONFIG_FILE} exists")
