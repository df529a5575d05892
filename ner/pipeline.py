"""The one path from text (or words) to entities, in TensorFlow functions.

Every front end runs this code: `ner.Tagger` (and through it `ner.serve` and
`python -m evaluation.report --model_dir`), training's dev and test scores,
and the exported SavedModel, whose signatures are this module's functions
(`ner.export`). Python only converts inputs and builds result objects.

From texts to entities, for a whole batch of texts at once:

1. Words and 2. sentences, by `ner.segmentation.split_texts` (which training
   on character-offset spans, `ner.spans`, also runs): the tokenizer's word
   splitter, with UTF-8 byte offsets, then the sentence rule (a new sentence
   after ".", "!" or "?" before a capitalised word, and after a blank line).
3. Windows and potentials. Words become wordpieces (word shapes packed in
   for a `case_features` model, `ner.casing`), windows are cut by
   `ner.features.plan_windows` (long sentences into overlapping windows;
   with `document_context`, the text's other sentences are context), and the
   encoder runs over batches of windows sorted by length, each within
   `batch_size` windows and `BATCH_TOKENS` real wordpieces (its attention
   in groups of rows by length). Every word's
   potentials come back through its first wordpiece (`ner.alignment`).
4. Decoding. Constrained Viterbi over whole sentences (the CRF masks forbid
   e.g. `O -> I-PER`), in batches of sentences sorted by length within
   `decode_cells` padded words. An entity is a maximal run of words of one
   type as the scheme chunks them (`ner.schemes`); its score is the CRF
   probability that exactly these words carry exactly these tags
   (`CRF.span_probability`), marginalising over the rest of the sentence.
5. Offsets. The span is trimmed of leading and trailing whitespace and of
   characters the tokenizer deletes (control and format characters such as
   U+200B), and byte offsets become character offsets (`ner.alignment`).

Pre-split words (CoNLL-style input, training's evaluation) enter at step 3
with their sentences and documents and leave at step 4 with one tag per word.

Every step is linear in the input: no tensor grows with (words x text
length) or (entities x text length), so a book-length text tags in memory
proportional to its words.

Shapes: B texts, N words (flat over the batch), S sentences, D documents,
V windows, K tags, E entities (flat).
"""

from __future__ import annotations

import tensorflow as tf

from ner import alignment, casing, features, schemes, segmentation
from ner.model import TaggerModel
from ner.shapes import grid_ceil, size_grid
from ner.tokenization import Tokenizer, blank_class

__all__ = ["Pipeline", "sorted_batches"]

# Upper bound on real wordpieces (with [CLS] and [SEP]) in one encoder batch.
# Batches are runs of windows sorted by length; the encoder's dense layers
# run on their real wordpieces only (`ner.bert._Packing`) and its attention
# in groups of rows of about one length (`ner.bert._Groups`,
# `ATTENTION_GROUPS_FROM`), so a batch may hold windows of every length and
# a call of a hundred sentences is one or two batches, not one per length.
# With windows padded to the longest of each batch instead (before this
# session's change, BENCHMARKS.md "Attention in groups of rows"), 2,048 of
# 4,096 padded cells measured the same time and 4,096 grew TensorFlow's
# allocator pool (oneDNN builds keep large tensors in a pool that grows by
# regions of doubling size and never shrinks) by a 256 MB region in about
# half the runs; in groups, 2,048 and 4,096 real wordpieces took the same
# time on calls of 125 CoNLL-2003 test sentences (EPYC Zen 4, 2 cores).
BATCH_TOKENS = 2048
# The encoder's batch shapes [windows, wordpieces] come from a small set
# (`size_grid`): TensorFlow's oneDNN kernels cache a primitive for every shape
# they run (about 1 MB of memory per encoder shape here, up to 1,024 shapes
# per kind of op and per thread, a cache no setting bounds), so with shapes
# exact to the wordpiece a process's memory grew with every new shape, for
# hundreds of batches (issue 13: `python -m ner.tag` grew ~140 MB on 20 MB of
# text). Window lengths are rounded up to 4 significant bits (at most 1/8
# more wordpieces: 16, 18, 20, ..., 32, 36, 40, ..., 64, 72, ...), windows
# per batch up to 2 (1, 2, 3, 4, 6, 8, 12, ..., 96, 128, ...; the rest empty
# rows), labelled words per window up to a multiple of 16 (and in the
# encoder, packed rows and attention groups to grids of their own). On the CoNLL-2003 test
# sentences that pads 1.085 wordpieces per real one, against 1.074 for exact
# shapes (the same CPU time), and 100 calls of 200,000 characters (20 MB of
# `python -m ner.tag`) meet 72 encoder shapes instead of 175.
LENGTH_BITS = 3
ROWS_BITS = 1
# Inference runs the encoder's dense layers on each batch's real wordpieces
# only (`ner.bert._Packing`), their number rounded up to 5 significant bits
# (at most 1/16 more rows; 4 significant bits measured 1-2% slower, with the
# first, scatter-based version of 8e4b99e). In calls of 204 CoNLL-2003 test
# sentences, whose batches pad a third of their cells, int8 tagging took
# 3.79 s against 4.33 s before (padded, query, key and value as three
# products), bfloat16 4.72 against 5.71, float32 8.86 against 9.83; one call
# of all 3,453 (4% padding) about the same: int8 3.12 against 3.07 (best of
# rounds, EPYC Zen 4, 2 cores, 2026-12-05; BENCHMARKS.md, issue 12,
# `scripts/profile_ops.py --against_padded`).
PACKED_BITS = 4
WIDTH_MULTIPLE = 16
# Attention groups (`ner.bert._Groups`) split a batch's rows at the powers of
# two from 16 wordpieces on (16, 32 and 64 below a `max_seq_length` of 128):
# a row is padded to at most twice its length (to 16 below it). Seven groups
# (16, 24, 32, 48, 64, 96) timed the same within this machine's noise and
# grew a process by 25 MB more over the same calls (a larger graph, more
# shapes); see BENCHMARKS.md, "Attention in groups of rows by length".
ATTENTION_GROUPS_FROM = 16
ATTENTION_GROUPS_BITS = 0
# Upper bound on sentences x padded words in one CRF decoding batch.
DECODE_CELLS = 1 << 15
# Encoder batches in flight at once. One batch alone leaves a core idle
# through its serial stretches (quantizing, LayerNorm, gathers, softmax); a
# second batch's ops fill them: int8 tagging of the CoNLL-2003 test sentences
# in one call took 3.61-4.41 s against 4.19-4.78 s one batch at a time (six
# rounds in turns, faster in each), and 10 in flight timed as 2 (EPYC Zen 4,
# 2 cores; BENCHMARKS.md, "Two encoder batches in flight"). It needs a loop
# body whose stateful ops do not wait for its compute: `tf.function` makes
# every output of the body, the batch counter included, wait for them (see
# `ner.bert._LayerNorm`).
PARALLEL_ITERATIONS = 2


def traced_once_per_object(function):
    """Marks a `tf.function` made for one object (a pipeline, a model): it is
    traced once for that object by design, so TensorFlow's "5 out of the last
    5 calls ... triggered tf.function retracing" warning does not apply.

    TensorFlow counts traces by the Python function's code, not by the
    object: the fifth pipeline in a process (a training run's dev and best
    taggers and its three precision checks) printed that warning, with advice
    that fits a function made in a loop. TensorFlow sets the same attribute on
    the functions it restores from a SavedModel, for the same reason; where a
    TensorFlow lacks it, setting it does nothing.
    """
    function._omit_frequent_tracing_warning = True
    return function


def _signature_shapes(**inputs: tf.Tensor) -> list[tf.Tensor]:
    """A signature's inputs, checked at run time against their declared shapes.

    A loaded SavedModel's signature does not check the shapes of what it is
    given: a scalar `texts` failed deep in the graph with "slice index 0 of
    dimension 0 out of bounds". Now: "Shape of tensor texts [] is not
    compatible with expected shape [?]", at a node named `texts_shape`.
    """
    return [tf.ensure_shape(value, value.shape, name=f"{name}_shape")
            for name, value in inputs.items()]


def sorted_batches(sizes: tf.Tensor, max_rows, max_cells: int,
                   padded: bool = True) -> tuple[tf.Tensor, tf.Tensor]:
    """Runs of items sorted by size, each within `max_rows` rows and `max_cells` cells.

    Each batch is the longest run that fits.

    Args:
        sizes: int64 [V], e.g. wordpieces per window (at least 1 each).
        max_rows: int32 scalar, at most this many items per batch.
        max_cells: at most this many cells per batch (an item larger than
            that alone).
        padded: a batch's cells are its rows x its largest size (items
            padded to it); False: the sum of its sizes.

    Returns:
        (order int64 [V], splits int64 [batches + 1]): batch k holds items
        order[splits[k]:splits[k + 1]], shortest first.
    """
    order = tf.argsort(sizes, stable=True)
    ranked = tf.gather(sizes, order)  # [V] ascending
    total = tf.size(sizes, out_type=tf.int64)
    rows = tf.cast(max_rows, tf.int64)

    def body(start, ends):
        k = tf.range(1, tf.minimum(rows, total - start) + 1)  # [r] candidate run lengths
        run = ranked[start:start + tf.size(k, out_type=tf.int64)]
        # Sorted: a run's padded cells are its length x its last size.
        cost = k * run if padded else tf.cumsum(run)
        fits = (cost <= max_cells) | tf.equal(k, 1)
        take = tf.reduce_max(tf.where(fits, k, 1))
        return start + take, ends.write(ends.size(), start + take)

    _, ends = tf.while_loop(
        lambda start, ends: start < total, body,
        (tf.constant(0, tf.int64), tf.TensorArray(tf.int64, size=0, dynamic_size=True,
                                                   element_shape=[])))
    return tf.cast(order, tf.int64), tf.concat([[0], ends.stack()], 0)


class Pipeline(tf.Module):
    """The text-to-entities functions around a `TaggerModel` and its `Tokenizer`.

    Args:
        model: the trained model.
        tokenizer: its tokenizer.
        batch_size: windows per encoder batch in the exported signatures (the
            Python callers pass their own to `entities` and `word_tags`).
    """

    def __init__(self, model: TaggerModel, tokenizer: Tokenizer, batch_size: int = 128):
        super().__init__(name="ner_pipeline")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if model.config.max_seq_length < 3:
            raise ValueError(
                f"max_seq_length={model.config.max_seq_length} leaves no room for a word")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self._budget = model.config.max_seq_length - 2  # wordpieces between [CLS] and [SEP]
        labels = list(model.config.labels)
        table = schemes.label_table(labels)
        self.labels = labels
        self.types = list(table.types)
        self._num_tags = len(labels)
        self._label_names = tf.constant(labels)  # [K]
        self._type_names = tf.constant(self.types if self.types else [""])  # [types]
        self._type_of = tf.constant(table.type_of, tf.int32)  # [K], -1 for O
        self._opens = tf.constant(table.opens)  # [K]
        self._closes = tf.constant(table.closes)  # [K]
        self._blank = blank_class()
        self._row_grid = size_grid(ROWS_BITS, 1 << 24)  # windows per encoder batch
        self._packed_grid = size_grid(PACKED_BITS, 1 << 24)  # real wordpieces per batch
        longest = model.config.max_seq_length
        self.attention_groups = [size for size in size_grid(ATTENTION_GROUPS_BITS, longest)
                                  if ATTENTION_GROUPS_FROM <= size < longest]

        texts = tf.TensorSpec([None], tf.string, name="texts")
        size = tf.TensorSpec([], tf.int32, name="batch_size")
        # No AutoGraph: there is no tensor-dependent Python control flow.
        self.entities = tf.function(self._entities, input_signature=[texts, size],
                                    autograph=False)
        self.word_tags = tf.function(self._word_tags, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.string, name="words"),
            tf.TensorSpec([None], tf.int64, name="sentence_lengths"),
            tf.TensorSpec([None], tf.int64, name="documents"),
            size])
        self.sentences = tf.function(self._sentences, input_signature=[texts], autograph=False)
        # The exported signatures (`signatures`), traced only when called or saved.
        self.tag_texts = tf.function(self._serve_texts, input_signature=[texts], autograph=False)
        self.tag_words = tf.function(self._serve_words, autograph=False, input_signature=[
            tf.TensorSpec([None], tf.string, name="words"),
            tf.TensorSpec([None], tf.int64, name="sentence_lengths"),
            tf.TensorSpec([None], tf.int64, name="documents")])
        matrix = lambda name: tf.TensorSpec([None, None], tf.int32, name=name)
        self.tag_wordpieces = tf.function(self._serve_wordpieces, autograph=False, input_signature=[
            matrix("input_ids"), matrix("input_mask"), matrix("segment_ids"),
            matrix("word_starts"), tf.TensorSpec([None], tf.int32, name="word_lengths")])
        self.decode = tf.function(self._serve_decode, autograph=False, input_signature=[
            tf.TensorSpec([None, None, self._num_tags], tf.float32, name="potentials"),
            tf.TensorSpec([None], tf.int32, name="lengths")])
        for function in (self.entities, self.word_tags, self.sentences, self.tag_texts,
                         self.tag_words, self.tag_wordpieces, self.decode):
            traced_once_per_object(function)

    # === Front ends ===

    def _entities(self, texts, batch_size):
        """Entities of raw texts, flat over the batch and in text order.

        Args:
            texts: string [B], valid UTF-8.
            batch_size: int32 scalar, windows per encoder batch.

        Returns:
            dict of [E] tensors: `text_id` int64; `labels` string (the type);
            `byte_starts`, `byte_ends`, `char_starts`, `char_ends` int64
            offsets into the entity's text, end exclusive; `entity_texts`
            string; `scores` float32 in [0, 1].
        """
        words = self._words(texts)
        count = tf.size(words["strings"], out_type=tf.int64)

        def tag():
            context = words["text_splits"] if self.model.config.document_context else None
            potentials = self._potentials(words["strings"], words["sentence_splits"], context,
                                          batch_size)
            _, (first, last, kind, scores) = self._decode(
                potentials, words["sentence_splits"], entities=True)
            return self._spans(words, first, last, kind, scores)

        def nothing():
            empty = lambda dtype: tf.zeros([0], dtype)
            return {"text_id": empty(tf.int64), "labels": empty(tf.string),
                    "byte_starts": empty(tf.int64), "byte_ends": empty(tf.int64),
                    "char_starts": empty(tf.int64), "char_ends": empty(tf.int64),
                    "entity_texts": empty(tf.string), "scores": empty(tf.float32)}

        return tf.cond(count > 0, tag, nothing)

    def _word_tags(self, words, sentence_lengths, documents, batch_size):
        """One tag id per pre-split word.

        Args:
            words: string [N], the words of all sentences in order.
            sentence_lengths: int64 [S], words per sentence (may be 0).
            documents: int64 [S], each sentence's document; consecutive
                sentences of one document are each other's context for a
                `document_context` model.
            batch_size: int32 scalar, windows per encoder batch.

        Returns:
            int32 [N] tag ids, valid sequences in the model's scheme.
        """
        splits = tf.concat([[0], tf.cumsum(sentence_lengths)], 0)  # [S + 1]

        def tag():
            context = (features.document_splits(splits, documents)
                       if self.model.config.document_context else None)
            potentials = self._potentials(words, splits, context, batch_size)
            return self._decode(potentials, splits, entities=False)[0]

        return tf.cond(tf.size(words) > 0, tag, lambda: tf.zeros([0], tf.int32))

    def _sentences(self, texts):
        """How `entities` splits texts into sentences.

        Returns:
            (text_id int64 [S], char_starts int64 [S], char_ends int64 [S]):
            from the start of each sentence's first word to the end of its
            last word.
        """
        words = self._words(texts)
        splits = words["sentence_splits"]
        first, last = splits[:-1], splits[1:] - 1
        text_id = tf.gather(words["text_of_word"], first)
        chars = words["chars"]
        return (text_id, chars.chars(text_id, tf.gather(words["starts"], first)),
                chars.chars(text_id, tf.gather(words["ends"], last)))

    # === Steps ===

    def _words(self, texts) -> dict:
        """Step 1 and 2: words, their offsets and their sentences (`ner.segmentation`)."""
        return segmentation.split_texts(self.tokenizer, texts)

    def _potentials(self, strings, sentence_splits, context_splits, batch_size):
        """Step 3: word potentials float32 [N, K], every word through its first piece."""
        count = tf.size(strings, out_type=tf.int64)
        pieces = self.tokenizer.tf_tokenize_words(
            tf.RaggedTensor.from_row_splits(strings, tf.stack([0, count]),
                                            validate=False)).values  # [N, (P)]
        if self.model.config.case_features:
            pieces = casing.tf_pack(pieces, strings, self.model.encoder.config.vocab_size)
        flat, offsets = alignment.piece_offsets(pieces, self._budget)
        plan = features.plan_windows(offsets, sentence_splits, self._budget, context_splits)
        sizes = plan["piece_end"] - plan["piece_start"] + 2  # [V] with [CLS] and [SEP]
        padded = grid_ceil(size_grid(LENGTH_BITS, self.model.config.max_seq_length), sizes)
        # Sorted by length; a batch holds windows of any length (`BATCH_TOKENS`).
        order, splits = sorted_batches(sizes, batch_size, BATCH_TOKENS, padded=False)
        num_batches = tf.size(splits) - 1
        tokenizer = self.tokenizer

        def body(k, found_potentials, found_words):
            pick = order[splits[k]:splits[k + 1]]  # [v]
            inputs = alignment.window_inputs(
                flat, offsets, plan, pick, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id,
                length=tf.gather(padded, pick[-1]), width_multiple=WIDTH_MULTIPLE)
            # Windows per batch rounded up to the row grid with empty rows, so
            # that the head's shapes come from a bounded set.
            v = tf.size(pick)
            extra = grid_ceil(self._row_grid, v[tf.newaxis])[0] - v
            grow = lambda x: tf.pad(x, tf.concat([[[0, extra]], tf.zeros([tf.rank(x) - 1, 2],
                                                                        tf.int32)], 0))
            potentials = self.model.potentials(
                *(grow(inputs[key]) for key in ("input_ids", "input_mask", "word_starts",
                                                "word_lengths")),
                packed_rows=self._packed_grid,
                attention_groups=self.attention_groups)[:v]  # [v, W, K]
            rows = tf.RaggedTensor.from_tensor(potentials, lengths=inputs["word_lengths"])
            return (k + 1, found_potentials.write(k, rows.flat_values),
                    found_words.write(k, inputs["words"].flat_values))

        _, found_potentials, found_words = tf.while_loop(
            lambda k, *_: k < num_batches, body, parallel_iterations=PARALLEL_ITERATIONS,
            loop_vars=(tf.constant(0),
                       tf.TensorArray(tf.float32, size=num_batches, infer_shape=False,
                                      element_shape=[None, self._num_tags]),
                       tf.TensorArray(tf.int64, size=num_batches, infer_shape=False,
                                      element_shape=[None])))
        return alignment.scatter_words(found_words.concat(), found_potentials.concat(), count)

    def _decode(self, potentials, sentence_splits, entities: bool):
        """Step 4: Viterbi tags of whole sentences, and optionally their entities.

        Args:
            potentials: float32 [N, K].
            sentence_splits: int64 [S + 1].
            entities: also chunk entities and score them.

        Returns:
            (tags int32 [N], spans): spans None, or (first word, last word,
            type index, score) [E] each, entities in word order.
        """
        count = tf.shape(potentials, out_type=tf.int64)[0]
        lengths = sentence_splits[1:] - sentence_splits[:-1]  # [S]
        real = tf.where(lengths > 0)[:, 0]  # [S'] sentences with words
        order, splits = sorted_batches(tf.gather(lengths, real), DECODE_CELLS, DECODE_CELLS)
        order = tf.gather(real, order)
        num_batches = tf.size(splits) - 1
        crf = self.model.crf

        def body(k, found_tags, found_words, *found_spans):
            idx = order[splits[k]:splits[k + 1]]  # [b]
            n = tf.gather(lengths, idx)  # [b]
            words = tf.ragged.range(tf.gather(sentence_splits, idx),
                                    tf.gather(sentence_splits, idx) + n)  # [b, (W)]
            padded = tf.gather(potentials, words).to_tensor()  # [b, W, K]
            n32 = tf.cast(n, tf.int32)
            tags, _ = crf.decode(padded, n32)  # [b, W]
            flat_tags = tf.RaggedTensor.from_tensor(tags, lengths=n).flat_values
            out = (k + 1, found_tags.write(k, flat_tags), found_words.write(k, words.flat_values))
            if not entities:
                return out
            row, first, last, kind = self._chunks(tags, n32)  # [e] each
            # `row` is sorted (row-major order): one partition, not validated.
            by_row = tf.RaggedTensor.from_value_rowids(
                first, row, nrows=tf.size(idx, out_type=tf.int64), validate=False)  # [b, (e)]
            span_starts = by_row.with_flat_values(tf.cast(first, tf.int32)).to_tensor()  # [b, max e]
            span_ends = by_row.with_flat_values(tf.cast(last + 1, tf.int32)).to_tensor()
            probs = crf.span_probability(padded, n32, tags, span_starts, span_ends)  # [b, max e]
            scores = tf.RaggedTensor.from_tensor(probs, lengths=by_row.row_lengths())
            base = tf.gather(tf.gather(sentence_splits, idx), row)  # [e]
            values = (base + first, base + last, kind, tf.clip_by_value(scores.flat_values, 0., 1.))
            return out + tuple(array.write(k, value) for array, value in zip(found_spans, values))

        array = lambda dtype: tf.TensorArray(dtype, size=num_batches, infer_shape=False,
                                             element_shape=[None])
        spans = (array(tf.int64), array(tf.int64), array(tf.int64), array(tf.float32)) \
            if entities else ()
        _, found_tags, found_words, *found_spans = tf.while_loop(
            lambda k, *_: k < num_batches, body,
            (tf.constant(0), array(tf.int32), array(tf.int64)) + spans)
        tags = tf.scatter_nd(found_words.concat()[:, None], found_tags.concat(),
                             tf.reshape(count, [1]))  # [N]
        if not entities:
            return tags, None
        first, last, kind, scores = (a.concat() for a in found_spans)
        order = tf.argsort(first, stable=True)
        return tags, tuple(tf.gather(values, order) for values in (first, last, kind, scores))

    def _chunks(self, tags, lengths):
        """Entities of decoded tags, chunked by the scheme's rules (conlleval's).

        Args:
            tags: int32 [b, W]; lengths: int32 [b].

        Returns:
            (row, first word, last word, type index), int64 [e] each, in
            row-major order.
        """
        real = tf.sequence_mask(lengths, tf.shape(tags)[1])  # [b, W]
        kind = tf.where(real, tf.gather(self._type_of, tags), -1)  # [b, W]
        opens = tf.gather(self._opens, tags) & real
        closes = tf.gather(self._closes, tags) & real
        column = lambda value, like: tf.fill([tf.shape(tags)[0], 1], tf.constant(value, like.dtype))
        prev_kind = tf.concat([column(-1, kind), kind[:, :-1]], 1)
        next_kind = tf.concat([kind[:, 1:], column(-1, kind)], 1)
        prev_closes = tf.concat([column(False, closes), closes[:, :-1]], 1)
        next_opens = tf.concat([opens[:, 1:], column(False, opens)], 1)
        # A type change, B/S, or an E/S before it starts a chunk; the mirror
        # conditions end one. Under the scheme's constraints these are
        # exactly the scheme's entities.
        starts = (kind >= 0) & ((prev_kind != kind) | opens | prev_closes)
        ends = (kind >= 0) & ((next_kind != kind) | closes | next_opens)
        at_start, at_end = tf.where(starts), tf.where(ends)  # [e, 2]
        return (at_start[:, 0], at_start[:, 1], at_end[:, 1],
                tf.cast(tf.gather_nd(kind, at_start), tf.int64))

    def _spans(self, words, first, last, kind, scores) -> dict:
        """Step 5: trimmed byte and character offsets of entities."""
        text_id = tf.gather(words["text_of_word"], first)  # [E]
        start = tf.gather(words["global_starts"], first)
        end = tf.gather(words["global_ends"], last)
        joined = words["joined"]
        span = tf.strings.substr(joined, start, end - start)  # [E]
        size = tf.strings.length(span)
        lead = size - tf.strings.length(tf.strings.regex_replace(span, f"^[{self._blank}]+", ""))
        trail = size - tf.strings.length(tf.strings.regex_replace(span, f"[{self._blank}]+$", ""))
        start, end = start + tf.cast(lead, tf.int64), end - tf.cast(trail, tf.int64)
        base = tf.gather(words["chars"].text_base, text_id)
        byte_start, byte_end = start - base, end - base
        return {
            "text_id": text_id,
            "labels": tf.gather(self._type_names, kind),
            "byte_starts": byte_start, "byte_ends": byte_end,
            "char_starts": words["chars"].chars(text_id, byte_start),
            "char_ends": words["chars"].chars(text_id, byte_end),
            "entity_texts": tf.strings.substr(joined, start, end - start),
            "scores": scores,
        }

    # === Exported signatures (`ner.export`) ===

    def signatures(self) -> dict:
        """The signature name -> function map for `tf.saved_model.save`."""
        return {"serving_default": self.tag_texts, "tag_words": self.tag_words,
                "tag_wordpieces": self.tag_wordpieces, "decode": self.decode}

    def _serve_texts(self, texts):
        """`entities` padded per text: [B, E] tensors and `num_entities` [B]."""
        texts, = _signature_shapes(texts=texts)
        found = dict(self._entities(texts, tf.constant(self.batch_size, tf.int32)))
        text_id = found.pop("text_id")
        num_texts = tf.shape(texts, out_type=tf.int64)[0]
        padding = {"labels": "", "entity_texts": "", "scores": 0.0}
        out = {}
        for name, values in found.items():
            ragged = tf.RaggedTensor.from_value_rowids(values, text_id, nrows=num_texts)  # [B, (E)]
            out[name] = ragged.to_tensor(padding.get(name, -1))  # [B, E]
        n = tf.cast(num_texts, tf.int32)
        out["num_entities"] = tf.math.bincount(tf.cast(text_id, tf.int32), minlength=n,
                                               maxlength=n)  # [B]
        return out

    def _serve_words(self, words, sentence_lengths, documents):
        """`word_tags` with label names: `label_ids` int32 [N], `labels` string [N]."""
        words, sentence_lengths, documents = _signature_shapes(
            words=words, sentence_lengths=sentence_lengths, documents=documents)
        # A client's inputs, checked so that a mistake is named (a gather
        # deep in the graph would fail on "indices[0] = 5 is not in [0, 3)").
        checks = [
            tf.debugging.assert_non_negative(
                sentence_lengths, message="tag_words: sentence_lengths must be >= 0"),
            tf.debugging.assert_equal(
                tf.reduce_sum(sentence_lengths), tf.size(words, out_type=tf.int64),
                message="tag_words: sentence_lengths must add up to the number of words"),
            tf.debugging.assert_equal(
                tf.size(documents), tf.size(sentence_lengths),
                message="tag_words: documents must have one entry per sentence, as "
                        "sentence_lengths")]
        with tf.control_dependencies(checks):
            words = tf.identity(words)
        tags = self._word_tags(words, sentence_lengths, documents,
                               tf.constant(self.batch_size, tf.int32))
        return {"label_ids": tags, "labels": tf.gather(self._label_names, tags)}

    def _serve_wordpieces(self, input_ids, input_mask, segment_ids, word_starts, word_lengths):
        """Potentials and per-row Viterbi tags of client-built windows."""
        input_ids, input_mask, segment_ids, word_starts, word_lengths = _signature_shapes(
            input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids,
            word_starts=word_starts, word_lengths=word_lengths)
        # A client's inputs, checked so that a mistake is named: a mask of
        # another width was broadcast silently (padding attended), and an id
        # or a word start out of range failed in a gather deep in the graph.
        windows, width = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
        ids_limit = self.model.encoder.config.vocab_size * (
            casing.NUM_SHAPES if self.model.config.case_features else 1)
        must = lambda what: f"tag_wordpieces: {what}"
        checks = [
            tf.debugging.assert_equal(tf.shape(input_mask), tf.shape(input_ids), message=must(
                "input_mask must have the shape of input_ids, [B, S]")),
            tf.debugging.assert_equal(tf.shape(segment_ids), tf.shape(input_ids), message=must(
                "segment_ids must have the shape of input_ids, [B, S]")),
            tf.debugging.assert_equal(tf.shape(word_starts)[0], windows, message=must(
                "word_starts must have one row per window (B, as input_ids)")),
            tf.debugging.assert_equal(tf.size(word_lengths), windows, message=must(
                "word_lengths must have one entry per window (B, as input_ids)"))]
        with tf.control_dependencies(checks):  # shapes first: the checks below compare values
            checks = [
                tf.debugging.assert_equal(
                    segment_ids, tf.zeros_like(segment_ids), message=must(
                        "segment_ids must be all 0: the model was trained on single-segment "
                        "windows")),
                tf.debugging.assert_equal(
                    tf.reduce_all((input_mask == 0) | (input_mask == 1)), True, message=must(
                        "input_mask must be 0 or 1")),
                tf.debugging.assert_non_negative(input_ids, message=must(
                    "input_ids must be >= 0")),
                tf.debugging.assert_less(input_ids, ids_limit, message=must(
                    f"input_ids must be below {ids_limit} (the size of the vocabulary"
                    + (" times ner.casing.NUM_SHAPES, for packed ids" if
                       self.model.config.case_features else "") + ")")),
                tf.debugging.assert_non_negative(word_lengths, message=must(
                    "word_lengths must be >= 0")),
                tf.debugging.assert_less_equal(word_lengths, tf.shape(word_starts)[1],
                                               message=must(
                    "word_lengths must be at most the width W of word_starts")),
                tf.debugging.assert_non_negative(word_starts, message=must(
                    "word_starts must be >= 0")),
                tf.debugging.assert_less(word_starts, width, message=must(
                    "word_starts must be positions in the window, below the width S of "
                    "input_ids"))]
        with tf.control_dependencies(checks):
            input_ids = tf.identity(input_ids)
            potentials = self.model.potentials(input_ids, input_mask, word_starts, word_lengths)
        return {"potentials": potentials, **self._serve_decode(potentials, word_lengths)}

    def _serve_decode(self, potentials, lengths):
        """Viterbi tags of padded potentials [B, W, K] with lengths [B]."""
        potentials, lengths = _signature_shapes(potentials=potentials, lengths=lengths)
        tags, _ = self.model.crf.decode(potentials, lengths)  # [B, W]
        real = tf.sequence_mask(lengths, tf.shape(tags)[1])  # [B, W]
        names = tf.where(real, tf.gather(self._label_names, tags), "")
        return {"label_ids": tf.where(real, tags, 0), "labels": names}
