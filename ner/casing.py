"""Word shapes: the capitalisation an uncased encoder cannot see.

An uncased BERT (the offline default, all-MiniLM-L6-v2, is one) lowercases
every word before it looks it up, so "Bush" and "bush", "US" and "us", "May"
and "may" reach it as the same wordpieces. Capitalisation is one of the
strongest cues for names in English news text, so a tagger with
`case_features` gives the encoder each word's *shape* back: a learned vector
per shape (`SHAPES`), added to the input embeddings of every wordpiece of the
word, beside the word, position and segment embeddings. It starts at zero,
so training begins from the pretrained encoder exactly. Under a wholly
frozen encoder the shapes join each word's features in the head instead
(`TaggerConfig.head_case_size`), which needs no backward pass through it.

The shape travels with the wordpiece ids: a case-feature model's input ids
are *packed*, `piece_id + vocab_size * shape`, and the model unpacks them
(`unpack`). Windows, batches, the tagger and the exported SavedModel handle
packed ids as plain int32 ids, so no second per-wordpiece array has to be
threaded through each of them. `[CLS]`, `[SEP]` and padding have shape 0
(`NONE`), so their packed id is their plain id.

Shapes are computed with TensorFlow string ops (`tf_word_shapes`), the same
in training, in `ner.Tagger` and inside an exported SavedModel.
"""

from __future__ import annotations

import tensorflow as tf

# Index = shape id. Letters are Unicode letters with case (Lu, Lt, Ll), so
# "İstanbul" is title case and "東京" (no case) counts as "other".
SHAPES = (
    "none",   # [CLS], [SEP], padding: not a word
    "lower",  # letters, none upper case: "the", "ex-president"
    "title",  # first cased letter upper, the others lower: "Bush", "Al-qaida"
    "upper",  # letters, all upper case: "US", "NATO", "I"
    "mixed",  # any other mix: "McDonald", "iPhone", "eBay"
    "digit",  # no cased letter, a digit: "1996", "3-1", "12.5"
    "other",  # no cased letter, no digit: ",", "--", "東京"
)
NONE, LOWER, TITLE, UPPER, MIXED, DIGIT, OTHER = range(len(SHAPES))
NUM_SHAPES = len(SHAPES)

_UPPER = r"[\p{Lu}\p{Lt}]"
_LOWER = r"\p{Ll}"


def tf_word_shapes(words: tf.Tensor) -> tf.Tensor:
    """Shape ids of words.

    Title case: the first cased letter is upper case, no later one is, and
    there is a lower case one ("Bush", "Al-qaida"). Upper: cased letters,
    none lower case ("US", "U.S.", "I", "1990S"). Mixed: upper and lower
    case in any other order ("McDonald", "O'Neill", "eBay"). Characters
    without case (digits, punctuation, CJK) do not count as letters.

    Args:
        words: string [N] (UTF-8).

    Returns:
        int32 [N], indices into `SHAPES`.
    """
    has_upper = tf.strings.regex_full_match(words, f"(?s).*{_UPPER}.*")
    has_lower = tf.strings.regex_full_match(words, f"(?s).*{_LOWER}.*")
    has_digit = tf.strings.regex_full_match(words, r"(?s).*\p{Nd}.*")
    # The first cased letter is upper case and every later one is lower case.
    title = tf.strings.regex_full_match(words, rf"(?s)[^\p{{Lu}}\p{{Lt}}\p{{Ll}}]*{_UPPER}[^\p{{Lu}}\p{{Lt}}]*")
    shape = tf.where(has_digit, DIGIT, OTHER)
    shape = tf.where(has_lower, LOWER, shape)
    shape = tf.where(has_upper, MIXED, shape)
    shape = tf.where(has_upper & has_lower & title, TITLE, shape)
    shape = tf.where(has_upper & ~has_lower, UPPER, shape)
    return tf.cast(shape, tf.int32)


def _pack_values(flat_ids, piece_lengths, words, vocab_size):
    """Flat packed ids: flat_ids int32 [P total], piece_lengths int64 [N], words string [N]."""
    shapes = tf_word_shapes(words)  # [N]
    return flat_ids + tf.repeat(shapes, piece_lengths) * vocab_size  # [P total]


def tf_pack(ids: tf.RaggedTensor, words: tf.Tensor, vocab_size: int) -> tf.RaggedTensor:
    """Packs each word's shape into its wordpiece ids.

    Args:
        ids: int32 [..., (P)] wordpiece ids of N words ([B, (W), (P)] or
            [N, (P)]): the innermost rows are the words.
        words: string [N], the words they came from, flat.
        vocab_size: the encoder's vocabulary size.

    Returns:
        int32, shaped like `ids`: `id + vocab_size * shape`.
    """
    return ids.with_flat_values(
        _pack_values(ids.flat_values, ids.nested_row_lengths()[-1], words, vocab_size))


# Traced once: eager regular-expression ops rebuild their Unicode classes on
# every call.
_traced_pack_values = tf.function(
    _pack_values, autograph=False,
    input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64),
                     tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32)])


def pack(ids: tf.RaggedTensor, words: tf.Tensor, vocab_size: int) -> tf.RaggedTensor:
    """`tf_pack` for eager callers (training, `ner.Tagger`), compiled once.

    Args:
        ids: int32 [B, (W), (P)].
        words: string [N], the B sentences' words, flat (N = total words).
        vocab_size: the encoder's vocabulary size.
    """
    return ids.with_flat_values(
        _traced_pack_values(ids.flat_values, ids.nested_row_lengths()[-1], words, vocab_size))


def unpack(input_ids: tf.Tensor, vocab_size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Splits packed ids into (wordpiece ids, shape ids), both like `input_ids`.

    Raises (inside the graph) when an id is out of range, so plain ids of a
    larger vocabulary or corrupt packing fail loudly instead of reading
    another word's embedding.
    """
    input_ids = tf.convert_to_tensor(input_ids)
    tf.debugging.assert_less(input_ids, tf.constant(vocab_size * NUM_SHAPES, input_ids.dtype),
                             message="packed wordpiece id out of range (see ner.casing)")
    shapes = input_ids // vocab_size
    return input_ids - shapes * vocab_size, shapes
