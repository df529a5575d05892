"""Export a trained tagger as a SavedModel that tags raw strings.

    python -m ner.export --model_dir=runs/default --export_dir=exported/ner

writes `exported/ner/1/` (the next free version number: the layout TF
Serving watches). Loading it needs `tensorflow` and `tensorflow_text` only:

    >>> import tensorflow as tf, tensorflow_text  # registers the text ops
    >>> tag = tf.saved_model.load("exported/ner/1").signatures["serving_default"]
    >>> out = tag(texts=tf.constant(["Alice Smith lives in Paris."]))
    >>> out["labels"][0, :out["num_entities"][0]]        # e.g. [b"PER", b"LOC"]

Signatures
----------
`serving_default(texts: string [B])`, raw UTF-8 text in; everything
`ner.Tagger.tag` does happens in the graph: word splitting, sentence
splitting, WordPiece, windowing of long sentences, encoder, constrained CRF
Viterbi, entity chunking and span scores. Per text, padded to the batch's
largest entity count E:

* `labels` string [B, E]: entity type ("PER"; never "B-PER"), "" as padding;
* `char_starts`, `char_ends` int64 [B, E]: Unicode code point offsets, end
  exclusive: what Python's `str` indexing and `Tagger.tag` use;
* `byte_starts`, `byte_ends` int64 [B, E]: UTF-8 byte offsets, end
  exclusive: `text.encode()[byte_start:byte_end]`, for clients in languages
  that index bytes (Go, Rust, C++);
* `entity_texts` string [B, E]: the entity's text;
* `scores` float32 [B, E]: CRF probability of the whole span's labelling;
* `num_entities` int32 [B]: how many of the E columns are real. Padding
  offsets are -1, padding scores 0.

`tag_wordpieces(input_ids, input_mask, segment_ids: int32 [B, S],
word_starts: int32 [B, W], word_lengths: int32 [B])`: for servers without
the TensorFlow Text ops. The client tokenizes (BERT's `tokenization.py` gives
the same ids as our tokenizer), builds `[CLS] ... [SEP]` windows, and passes
the position of each word's first wordpiece. Returns `potentials` float32
[B, W, K], and, treating each row as one whole sentence, the Viterbi
`label_ids` int32 [B, W] and `labels` string [B, W] ("" beyond a row's
length). `segment_ids` must be all zero (the model was trained on single
segments); it is accepted because BERT clients always send it. A model
trained with `case_features` (the default) expects packed ids: each
wordpiece's id plus `vocab_size` times its word's shape (`ner.casing.SHAPES`:
1 lower, 2 Title, 3 UPPER, 4 mixed, 5 digits, 6 other; `[CLS]`, `[SEP]`
and padding 0, so their ids stay as they are).

`decode(potentials: float32 [B, W, K], lengths: int32 [B])`: constrained
Viterbi over potentials a client put back together from several windows of
a long sentence (as `ner.features.assemble_potentials` does); returns
`label_ids` and `labels`.

Windowing in the graph
----------------------
The windows are exactly those of `ner.features.make_windows`, so the
SavedModel's entities equal `Tagger.tag`'s. Sentences that fit one window get
one window. Longer sentences are cut into labelled chunks greedily (at most
half a window of wordpieces each), a sequential rule computed by a
`tf.while_loop` over the words of long sentences only (none in typical
traffic). Context on either side is a run of whole neighbouring words, and
its length is found for all windows at once by `tf.searchsorted` over the
cumulative wordpiece counts. Windows are sorted by length and run through the
encoder in batches of `window_batch_size`, so one huge request does not
become one huge tensor.

Shapes: B texts, N words of the whole batch (flattened), S sentences (or
wordpieces in the wordpiece signature), V windows, L wordpieces of a window,
W words, K tags, E entities.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

import tensorflow as tf

from ner import casing
from ner.model import TaggerModel
from ner.tagger import _CAPITALISED_WORD, _FINAL_WORD, Tagger
from ner.tokenization import Tokenizer, _category_runs, _class_body, _merge

__all__ = ["ExportModule", "export", "next_version_dir", "save"]


@functools.lru_cache(maxsize=None)
def _blank_class() -> str:
    """RE2 class body of the characters `Tagger` trims from entity edges.

    `str.isspace()` or Unicode category C* (control, format, unassigned,
    private use), from the exporting Python's tables like the tokenizer's
    classes. Surrogates are left out: they cannot occur in UTF-8.
    """
    ranges = [(first, last) for category, first, last in _category_runs() if category[0] == "C"]
    ranges += [(cp, cp) for cp in range(0x110000)
               if not 0xD800 <= cp <= 0xDFFF and chr(cp).isspace()]
    return _class_body(_merge(ranges))


class ExportModule(tf.Module):
    """The exported functions around a `TaggerModel` and its `Tokenizer`.

    Args:
        model: the trained model.
        tokenizer: its tokenizer.
        window_batch_size: windows per encoder call inside `tag_texts`.
    """

    def __init__(self, model: TaggerModel, tokenizer: Tokenizer, window_batch_size: int = 64):
        super().__init__(name="ner_export")
        if window_batch_size < 1:
            raise ValueError(f"window_batch_size must be at least 1, got {window_batch_size}")
        if model.config.max_seq_length < 3:
            raise ValueError(
                f"max_seq_length={model.config.max_seq_length} leaves no room for a word")
        self.model = model
        self.tokenizer = tokenizer
        self._window_batch_size = window_batch_size
        self._budget = model.config.max_seq_length - 2  # wordpieces between [CLS] and [SEP]
        self._document_context = bool(model.config.document_context)
        labels = list(model.config.labels)
        # Read as `Tagger` reads them, so types and chunking match it.
        types, type_of, opens, closes = _parse_labels(labels)
        self._num_tags = len(labels)
        self._label_names = tf.constant(labels)  # [K]
        self._type_names = tf.constant(types if types else [""])  # [types]
        self._type_of = tf.constant(type_of, tf.int32)  # [K], -1 for O
        self._opens = tf.constant(opens)  # [K]
        self._closes = tf.constant(closes)  # [K]
        self._blank = _blank_class()

        # No AutoGraph: the code has no tensor-dependent Python control flow.
        self.tag_texts = tf.function(self._tag_texts, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.string, name="texts"),
        ])
        self.tag_wordpieces = tf.function(self._tag_wordpieces, autograph=False, input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="input_mask"),
            tf.TensorSpec([None, None], tf.int32, name="segment_ids"),
            tf.TensorSpec([None, None], tf.int32, name="word_starts"),
            tf.TensorSpec([None], tf.int32, name="word_lengths"),
        ])
        self.decode = tf.function(self._decode, autograph=False, input_signature=[
            tf.TensorSpec([None, None, self._num_tags], tf.float32, name="potentials"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ])

    def signatures(self) -> dict:
        """The signature name -> function map for `tf.saved_model.save`."""
        return {"serving_default": self.tag_texts, "tag_wordpieces": self.tag_wordpieces,
                "decode": self.decode}

    # === Wordpiece and potentials signatures ===

    def _tag_wordpieces(self, input_ids, input_mask, segment_ids, word_starts, word_lengths):
        check = tf.debugging.assert_equal(
            segment_ids, tf.zeros_like(segment_ids),
            message="segment_ids must be all 0: the model was trained on single-segment windows")
        with tf.control_dependencies([check]):
            potentials = self.model.potentials(input_ids, input_mask, word_starts, word_lengths)
        out = self._decode(potentials, word_lengths)
        return {"potentials": potentials, **out}

    def _decode(self, potentials, lengths):
        tags, _ = self.model.crf.decode(potentials, lengths)  # [B, W]
        real = tf.sequence_mask(lengths, tf.shape(tags)[1])  # [B, W]
        names = tf.where(real, tf.gather(self._label_names, tags), "")
        return {"label_ids": tf.where(real, tags, 0), "labels": names}

    # === Raw text signature ===

    def _tag_texts(self, texts):
        """Entities of raw texts; see the module docstring for the outputs."""
        # Transcoding with replacement changes exactly the invalid texts; the
        # tokenizer's own check would only say "Invalid formatting".
        valid = tf.equal(texts, tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8",
                                                             errors="replace"))  # [B]
        check = tf.debugging.Assert(tf.reduce_all(valid), [
            "texts must be valid UTF-8; invalid at batch positions", tf.where(~valid)[:, 0]])
        with tf.control_dependencies([check]):
            texts = tf.identity(texts)
        words, starts, ends = self.tokenizer.tf_split_words_with_offsets(texts)  # [B, (W)]
        num_texts = tf.shape(texts, out_type=tf.int64)[0]
        count = tf.size(words.flat_values, out_type=tf.int64)

        def tag():
            return self._entities_of_words(texts, words, starts.flat_values, ends.flat_values)

        def nothing():
            return {
                "text_id": tf.zeros([0], tf.int64), "labels": tf.zeros([0], tf.string),
                "byte_starts": tf.zeros([0], tf.int64), "byte_ends": tf.zeros([0], tf.int64),
                "char_starts": tf.zeros([0], tf.int64), "char_ends": tf.zeros([0], tf.int64),
                "entity_texts": tf.zeros([0], tf.string), "scores": tf.zeros([0], tf.float32),
            }

        found = tf.cond(count > 0, tag, nothing)  # flat over entities [E total]
        text_id = found.pop("text_id")
        padding = {"labels": "", "entity_texts": "", "scores": 0.0}
        out = {}
        for name, values in found.items():
            ragged = tf.RaggedTensor.from_value_rowids(values, text_id, nrows=num_texts)  # [B, (E)]
            out[name] = ragged.to_tensor(padding.get(name, -1))  # [B, E]
        out["num_entities"] = tf.cast(
            tf.math.bincount(tf.cast(text_id, tf.int32), minlength=tf.cast(num_texts, tf.int32),
                             maxlength=tf.cast(num_texts, tf.int32)), tf.int32)  # [B]
        return out

    def _entities_of_words(self, texts, words, byte_start, byte_end):
        """All entities of the batch, flat and in text order.

        Args:
            texts: string [B].
            words: string RaggedTensor [B, (W)] from the splitter.
            byte_start, byte_end: int64 [N] byte offsets of the words.

        Returns:
            dict of [E] tensors: text_id int64, labels string, byte and char
            offsets int64, entity_texts string, scores float32.
        """
        flat_words = words.flat_values  # [N]
        count = tf.size(flat_words, out_type=tf.int64)
        text_of_word = words.value_rowids()  # [N]
        splits = self._sentence_splits(texts, flat_words, text_of_word, byte_start, byte_end)

        # Wordpieces; a word longer than a whole window keeps its first pieces,
        # as in `make_windows` (the first carries its label).
        pieces = self.tokenizer.tf_tokenize_words(
            tf.RaggedTensor.from_row_splits(flat_words, tf.stack([0, count]))).values  # [N, (P)]
        if self.model.config.case_features:
            pieces = casing.tf_pack(pieces, flat_words, self.model.encoder.config.vocab_size)
        pieces = pieces[:, :self._budget]
        offsets = tf.concat([[0], tf.cumsum(pieces.row_lengths())], 0)  # [N + 1]

        potentials = self._word_potentials(pieces.flat_values, offsets, splits,
                                           words.row_splits, count)  # [N, K]

        # Whole sentences through the CRF.
        sentence_lengths = tf.cast(splits[1:] - splits[:-1], tf.int32)  # [S]
        per_sentence = tf.RaggedTensor.from_row_splits(potentials, splits).to_tensor()  # [S, W, K]
        tags, _ = self.model.crf.decode(per_sentence, sentence_lengths)  # [S, W]
        row, first, last, kind = self._chunks(tags, sentence_lengths)  # [E] each
        by_row = lambda values: tf.RaggedTensor.from_value_rowids(
            values, row, nrows=tf.shape(tags, out_type=tf.int64)[0])  # [S, (E)]
        span_starts = by_row(tf.cast(first, tf.int32)).to_tensor()  # [S, max E]
        span_ends = by_row(tf.cast(last + 1, tf.int32)).to_tensor()  # [S, max E]
        probs = self.model.crf.span_probability(per_sentence, sentence_lengths, tags,
                                                span_starts, span_ends)  # [S, max E]
        scores = tf.RaggedTensor.from_tensor(probs, lengths=by_row(first).row_lengths()).flat_values
        scores = tf.clip_by_value(scores, 0.0, 1.0)  # [E]

        first_word = tf.gather(splits, row) + first  # [E] flat word index
        last_word = tf.gather(splits, row) + last
        text_id = tf.gather(text_of_word, first_word)  # [E]
        text = tf.gather(texts, text_id)  # [E]
        start, end = self._trim(text, tf.gather(byte_start, first_word),
                                tf.gather(byte_end, last_word))
        before = tf.strings.substr(text, tf.zeros_like(start), start)
        char_start = tf.strings.length(before, unit="UTF8_CHAR")
        entity_text = tf.strings.substr(text, start, end - start)
        char_end = char_start + tf.strings.length(entity_text, unit="UTF8_CHAR")
        return {
            "text_id": text_id,
            "labels": tf.gather(self._type_names, kind),
            "byte_starts": start, "byte_ends": end,
            "char_starts": tf.cast(char_start, tf.int64), "char_ends": tf.cast(char_end, tf.int64),
            "entity_texts": entity_text,
            "scores": scores,
        }

    def _sentence_splits(self, texts, flat_words, text_of_word, byte_start, byte_end):
        """Row splits [S + 1] of the flat words into sentences (`Tagger`'s rule).

        A sentence starts at each text's first word, after a word ".", "!" or
        "?" that is followed by a capitalised word, and after two or more line
        breaks ("\\n", or "\\r" not followed by "\\n") between words.
        """
        count = tf.size(flat_words, out_type=tf.int64)
        final = tf.strings.regex_full_match(flat_words, _FINAL_WORD)  # [N]
        capital = tf.strings.regex_full_match(flat_words, _CAPITALISED_WORD)  # [N]
        new_text = tf.not_equal(text_of_word, tf.concat([[-1], text_of_word[:-1]], 0))  # [N]
        previous_end = tf.concat([[0], byte_end[:-1]], 0)  # [N]
        gap_start = tf.where(new_text, tf.zeros_like(previous_end), previous_end)
        gap_length = tf.where(new_text, tf.zeros_like(byte_start), byte_start - previous_end)
        gaps = tf.strings.substr(tf.gather(texts, text_of_word), gap_start, gap_length)  # [N]
        # "\r\n" is one break; what is left of "\r" and "\n" counts one each.
        gaps = tf.strings.regex_replace(gaps, "\r\n", "\n")
        breaks = tf.strings.length(tf.strings.regex_replace(gaps, "[^\r\n]", ""))  # [N]
        after_final = tf.concat([[False], final[:-1]], 0)
        boundary = new_text | (after_final & capital) | (breaks >= 2)  # [N]
        return tf.concat([tf.where(boundary)[:, 0], tf.reshape(count, [1])], 0)  # [S + 1]

    def _chunk_starts(self, lengths, sentence_first, in_long_sentence):
        """Whether each word opens a labelled chunk (`features._chunks`).

        Args:
            lengths: int64 [N] wordpieces per (truncated) word.
            sentence_first: bool [N], the word opens its sentence.
            in_long_sentence: bool [N], its sentence exceeds one window.

        Returns:
            bool [N].
        """
        core = max(1, self._budget // 2)
        idx = tf.where(in_long_sentence)[:, 0]  # [M] words of long sentences
        lengths_m = tf.gather(lengths, idx)
        first_m = tf.gather(sentence_first, idx)
        m = tf.size(idx)

        # Greedy and sequential: a new chunk begins where the current one
        # would exceed `core` wordpieces (but every chunk has >= 1 word).
        def body(k, used, flags):
            length = lengths_m[k]
            opens = first_m[k] | (used + length > core)
            return k + 1, tf.where(opens, length, used + length), flags.write(k, opens)

        _, _, flags = tf.while_loop(
            lambda k, used, flags: k < m, body,
            (tf.constant(0), tf.constant(0, tf.int64),
             tf.TensorArray(tf.bool, size=m, element_shape=[])))
        return tf.tensor_scatter_nd_update(sentence_first, idx[:, None], flags.stack())

    def _word_potentials(self, flat_pieces, offsets, splits, text_splits, count):
        """Potentials [N, K] of every word, from windows as `make_windows` cuts them.

        Args:
            flat_pieces: int32 [P total], wordpieces of all words.
            offsets: int64 [N + 1], word n's pieces are
                flat_pieces[offsets[n]:offsets[n + 1]].
            splits: int64 [S + 1], sentence row splits over words.
            text_splits: int64 [B + 1], text row splits over words.
            count: N.
        """
        budget = tf.constant(self._budget, tf.int64)
        word_index = tf.range(count)
        sentence_of_word = tf.RaggedTensor.from_row_splits(word_index, splits).value_rowids()  # [N]
        sentence_lo, sentence_hi = splits[:-1], splits[1:]  # [S]
        long_sentence = tf.gather(offsets, sentence_hi) - tf.gather(offsets, sentence_lo) > budget
        sentence_first = tf.equal(word_index, tf.gather(sentence_lo, sentence_of_word))
        lengths = offsets[1:] - offsets[:-1]  # [N]
        opens = self._chunk_starts(lengths, sentence_first,
                                   tf.gather(long_sentence, sentence_of_word))

        first = tf.where(opens)[:, 0]  # [V] first labelled word of each window
        end = tf.concat([first[1:], tf.reshape(count, [1])], 0)  # [V] chunks tile the words
        sentence = tf.gather(sentence_of_word, first)  # [V]
        lo, hi = tf.gather(sentence_lo, sentence), tf.gather(sentence_hi, sentence)
        if self._document_context:
            # A sentence in one window sees the rest of its text (words
            # before and after it); a cut one only its own sentence. The
            # 512-word cap of `features._neighbours` never binds: a window
            # holds at most max_seq_length - 2 <= 510 context words.
            text_of_word = tf.RaggedTensor.from_row_splits(word_index, text_splits).value_rowids()
            text = tf.gather(text_of_word, first)
            whole = ~tf.gather(long_sentence, sentence)
            lo = tf.where(whole, tf.gather(text_splits, text), lo)
            hi = tf.where(whole, tf.gather(text_splits, text + 1), hi)

        at_first, at_end = tf.gather(offsets, first), tf.gather(offsets, end)
        spare = budget - (at_end - at_first)  # [V]

        # `features._take`: the nearest whole words that fit `room` pieces.
        # Pieces grow strictly with the word index, so the run is found by
        # binary search in the cumulative counts.
        def left(room):
            i = tf.searchsorted(offsets, at_first - room, side="left", out_type=tf.int64)
            return tf.maximum(i, lo)

        def right(room):
            j = tf.searchsorted(offsets, at_end + room, side="right", out_type=tf.int64) - 1
            return tf.minimum(j, hi)

        # Half the spare room each side; what one side cannot use goes to the other.
        i = left(spare // 2)
        j = right(spare - (at_first - tf.gather(offsets, i)))
        i = left(spare - (tf.gather(offsets, j) - at_end))
        window_start, window_end = tf.gather(offsets, i), tf.gather(offsets, j)  # [V] piece range

        # Encoder batches of similar length, like `features.batches`.
        order = tf.argsort(window_end - window_start, stable=True)  # [V]
        windows = tf.size(order)
        batch = self._window_batch_size
        num_batches = (windows + batch - 1) // batch
        cls = tf.constant(self.tokenizer.cls_id, tf.int32)
        sep = tf.constant(self.tokenizer.sep_id, tf.int32)

        def body(k, found_potentials, found_words):
            pick = order[k * batch:(k + 1) * batch]  # [v]
            v = tf.size(pick)
            w_start, w_end = tf.gather(window_start, pick), tf.gather(window_end, pick)
            w_first, w_last = tf.gather(first, pick), tf.gather(end, pick)
            body_ids = tf.gather(flat_pieces, tf.ragged.range(w_start, w_end))  # [v, (L - 2)]
            edge = lambda token: tf.RaggedTensor.from_tensor(tf.fill([v, 1], token))
            ids = tf.concat([edge(cls), body_ids, edge(sep)], axis=1)  # [v, (L)]
            input_ids = ids.to_tensor(self.tokenizer.pad_id)  # [v, L]
            input_mask = tf.sequence_mask(ids.row_lengths(), tf.shape(input_ids)[1], tf.int32)
            labelled = tf.ragged.range(w_first, w_last)  # [v, (W)] flat word indices
            word_starts = 1 + tf.gather(offsets, labelled) - w_start[:, None]  # [v, (W)]
            word_lengths = tf.cast(w_last - w_first, tf.int32)  # [v]
            potentials = self.model.potentials(
                input_ids, input_mask, tf.cast(word_starts.to_tensor(), tf.int32),
                word_lengths)  # [v, W, K]
            flat = tf.RaggedTensor.from_tensor(potentials, lengths=word_lengths).flat_values
            return (k + 1, found_potentials.write(k, flat),
                    found_words.write(k, labelled.flat_values))

        _, found_potentials, found_words = tf.while_loop(
            lambda k, *_: k < num_batches, body,
            (tf.constant(0),
             tf.TensorArray(tf.float32, size=num_batches, infer_shape=False,
                            element_shape=[None, self._num_tags]),
             tf.TensorArray(tf.int64, size=num_batches, infer_shape=False, element_shape=[None])))
        # Every word is labelled in exactly one window.
        return tf.scatter_nd(found_words.concat()[:, None], found_potentials.concat(),
                             tf.stack([count, self._num_tags]))  # [N, K]

    def _chunks(self, tags, lengths):
        """Entities of decoded tags, as `Tagger._entities` finds them (conlleval).

        Args:
            tags: int32 [S, W]; lengths: int32 [S].

        Returns:
            (row, first word, last word, type index), int64 [E] each, in
            row-major order.
        """
        real = tf.sequence_mask(lengths, tf.shape(tags)[1])  # [S, W]
        kind = tf.where(real, tf.gather(self._type_of, tags), -1)  # [S, W]
        opens = tf.gather(self._opens, tags) & real
        closes = tf.gather(self._closes, tags) & real
        column = lambda value, like: tf.fill([tf.shape(tags)[0], 1], tf.constant(value, like.dtype))
        prev_kind = tf.concat([column(-1, kind), kind[:, :-1]], 1)
        next_kind = tf.concat([kind[:, 1:], column(-1, kind)], 1)
        prev_closes = tf.concat([column(False, closes), closes[:, :-1]], 1)
        next_opens = tf.concat([opens[:, 1:], column(False, opens)], 1)
        starts = (kind >= 0) & ((prev_kind != kind) | opens | prev_closes)
        ends = (kind >= 0) & ((next_kind != kind) | closes | next_opens)
        at_start, at_end = tf.where(starts), tf.where(ends)  # [E, 2]
        return (at_start[:, 0], at_start[:, 1], at_end[:, 1],
                tf.cast(tf.gather_nd(kind, at_start), tf.int64))

    def _trim(self, text, start, end):
        """Byte span shrunk past whitespace and C* characters at its edges."""
        span = tf.strings.substr(text, start, end - start)
        size = tf.strings.length(span)
        lead = size - tf.strings.length(tf.strings.regex_replace(span, f"^[{self._blank}]+", ""))
        trail = size - tf.strings.length(tf.strings.regex_replace(span, f"[{self._blank}]+$", ""))
        return start + tf.cast(lead, tf.int64), end - tf.cast(trail, tf.int64)


def _parse_labels(labels):
    """(types, type index per label, opens per label, closes per label), as `Tagger` reads them."""
    types, type_of, opens, closes = [], [], [], []
    for position, label in enumerate(labels):
        prefix, _, entity_type = label.partition("-")
        if label == "O":
            type_of.append(-1)
        elif prefix in ("B", "I", "E", "S") and entity_type:
            if entity_type not in types:
                types.append(entity_type)
            type_of.append(types.index(entity_type))
        else:
            raise ValueError(f"label {position} {label!r}: expected 'O' or '<B|I|E|S>-<TYPE>'")
        opens.append(prefix in ("B", "S"))
        closes.append(prefix in ("E", "S"))
    return types, type_of, opens, closes


def next_version_dir(export_dir: str | os.PathLike) -> Path:
    """`export_dir/<n>` for the smallest n above every existing numeric version (1 if none)."""
    export_dir = Path(export_dir)
    versions = [int(p.name) for p in export_dir.iterdir() if p.name.isdigit()] \
        if export_dir.is_dir() else []
    return export_dir / str(max(versions, default=0) + 1)


def export(model_dir: str | os.PathLike, export_dir: str | os.PathLike, version: int | None = None,
           window_batch_size: int = 64) -> Path:
    """Writes the SavedModel of a trained model folder.

    Args:
        model_dir: a model folder or a training output folder holding `model/`.
        export_dir: the versioned folder TF Serving watches.
        version: the version subfolder; None for the next free number (1 in
            a new folder).
        window_batch_size: windows per encoder call inside the graph.

    Returns:
        The version folder written, e.g. `export_dir/1`.

    Raises:
        FileNotFoundError: `model_dir` is not a model folder.
        FileExistsError: `export_dir/<version>` exists already.
        ValueError: the model folder is invalid, or `version` < 1.
    """
    target = _version_dir(export_dir, version)  # fails before the slow part
    tagger = Tagger.load(model_dir)
    module = ExportModule(tagger.model, tagger.tokenizer, window_batch_size=window_batch_size)
    return save(module, export_dir, version=int(target.name))


def save(module: ExportModule, export_dir: str | os.PathLike, version: int | None = None) -> Path:
    """Writes `module` with its signatures as `export_dir/<version>`; see `export`."""
    target = _version_dir(export_dir, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so TF Serving, which watches the
    # folder, never loads a half-written version.
    # (Not mkdtemp: its 0700 mode would hide the model from a server running
    # as another user; this folder gets the umask's permissions.)
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tf.saved_model.save(module, str(tmp), signatures=module.signatures())
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _version_dir(export_dir: str | os.PathLike, version: int | None) -> Path:
    if version is not None and version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    target = next_version_dir(export_dir) if version is None else Path(export_dir) / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists already; choose another --version")
    return target


def _define_flags() -> None:
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Trained model folder (or a training output folder).")
    flags.DEFINE_string("export_dir", None,
                        "Versioned SavedModel folder; writes <export_dir>/<n>/.")
    flags.DEFINE_integer("version", None, "Version subfolder (default: the next free number).",
                         lower_bound=1)
    flags.DEFINE_integer("window_batch_size", 64, "Windows per encoder call in the graph.",
                         lower_bound=1)
    flags.mark_flags_as_required(["model_dir", "export_dir"])


def main(argv: list[str]) -> None:
    from absl import flags

    if len(argv) > 1:
        print(f"export: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        sys.exit(2)
    options = flags.FLAGS
    try:
        target = export(options.model_dir, options.export_dir, options.version,
                        options.window_batch_size)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"export: error: {e}", file=sys.stderr)
        sys.exit(2)
    print(target)


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
