"""Raw text -> words and sentences: steps 1 and 2 of the tagging pipeline.

One function, `split_texts`, cuts texts into the words that get labels and
groups them into sentences. The tagger (`ner.pipeline.Pipeline`) runs it on
the texts it tags, and training on character-offset spans (`ner.spans`) runs
it on the texts it learns from, so a model learns on exactly the words and
sentences it will later be asked to tag.

1. Words. `Tokenizer.tf_split_words_with_offsets` splits every text into
   words with UTF-8 byte offsets (rules in `ner/tokenization.py`: whitespace
   separates words, every punctuation character and CJK ideograph is a word,
   "U.S."-style abbreviations and hyphenated words ("Jean-Luc") stay whole,
   initials, titles and some abbreviations keep their period ("M. Waugh",
   "Dr. Smith", "St. Louis", "AMR Corp., said"), control and zero-width
   characters stay inside their word, and a word with no wordpieces is
   dropped).
2. Sentences. The model was trained on CoNLL sentences, so words are grouped
   into sentences: a new sentence begins
   * after a word ".", "!" or "?" when the next word starts with an
     upper-case (or title-case) letter;
   * after a blank line (two or more line breaks between words: "\n",
     "\r\n", "\r" or U+2028; U+2029, the paragraph separator, counts as
     two);
   * after a single line break that follows a word ".", "!" or "?", or ends
     a short line: one under `SHORT_LINE_PERCENT` (60%) of the longest line
     of its text, in UTF-8 bytes. A headline, a dateline, a list item or a
     table row on a line of its own is shorter than the body's lines and
     ends there; hard-wrapped prose has lines of about one width, so its
     line breaks are spaces and an entity across one ("Angela\nMerkel")
     stays whole. (CoNLL-2003 dev as documents, a sentence a line: 93.45
     F1 against 91.65 with no single-line rule; wrapped at 72 or 40
     columns: 91.66 and 91.62 against 91.66 and 91.65; BENCHMARKS.md.)
   Nothing else splits a sentence: "in the U.S. Army" stays whole ("U.S."
   is one word), and so do "he said. the" and "M. Waugh" (the period is the
   initial's); a sentence ending in an initial or a title ("... a vitamin C.
   He left", "... met the Dr. He left") runs on into the next, a price of
   the simple rule. Sentence length is unlimited.

All TensorFlow ops, usable eagerly and inside a SavedModel.

Shapes: B texts, N words (flat over the batch), S sentences.
"""

from __future__ import annotations

import tensorflow as tf

from ner import alignment
from ner.tokenization import CAPITALISED_WORD

__all__ = ["split_texts"]

# A sentence-final word: one of . ! ? with any marks or control characters
# the splitter keeps attached to it.
_FINAL_WORD = r"[.!?][\pM\pC]*"
# A line shorter than this percentage of its text's longest line ends its
# sentence at its line break (see the module docstring).
SHORT_LINE_PERCENT = 60


def split_texts(tokenizer, texts) -> dict:
    """Words of texts, their offsets and their sentences.

    Args:
        tokenizer: a `ner.tokenization.Tokenizer` (its word splitter drops
            words without wordpieces, so the vocabulary matters).
        texts: string [B], valid UTF-8 (checked: an invalid text fails an
            assertion naming its batch position).

    Returns:
        dict of tensors:
            `strings` string [N], the words' original bytes;
            `text_of_word` int64 [N], each word's text;
            `starts`, `ends` int64 [N], byte offsets into the word's text;
            `global_starts`, `global_ends` int64 [N], byte offsets into
            `joined`;
            `sentence_splits` int64 [S + 1], sentence k holds words
            `sentence_splits[k]:sentence_splits[k + 1]` (no sentence crosses
            texts);
            `text_splits` int64 [B + 1], text b holds words
            `text_splits[b]:text_splits[b + 1]`;
            `joined` string scalar, the texts concatenated;
            `chars` an `alignment.CharOffsets` over `joined`, for byte ->
            character offsets.
    """
    # Transcoding with replacement changes exactly the invalid texts; the
    # tokenizer's own check would only say "Invalid formatting".
    valid = tf.equal(texts, tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8",
                                                         errors="replace"))  # [B]
    check = tf.debugging.Assert(tf.reduce_all(valid), [
        "texts must be valid UTF-8; invalid at batch positions", tf.where(~valid)[:, 0]])
    with tf.control_dependencies([check]):
        texts = tf.identity(texts)
    words, starts, ends = tokenizer.tf_split_words_with_offsets(texts)  # [B, (W)]
    # One concatenation of all texts: offsets and substrings index into it,
    # never into a per-word copy of a text.
    joined = tf.strings.reduce_join(texts)  # []
    text_base = tf.concat(
        [[0], tf.cumsum(tf.cast(tf.strings.length(texts), tf.int64))], 0)  # [B + 1]
    chars = alignment.CharOffsets(joined, text_base)
    text_of_word = words.value_rowids()  # [N]
    strings = words.flat_values  # [N]
    base = tf.gather(text_base, text_of_word)
    global_start, global_end = base + starts.flat_values, base + ends.flat_values  # [N]

    # Line breaks: "\n", "\r" not followed by "\n" (old Mac files), and
    # U+2028 LINE SEPARATOR; U+2029 PARAGRAPH SEPARATOR (E2 80 A9 in UTF-8)
    # is a blank line, two.
    data = chars.data
    padded = tf.concat([data, tf.zeros([2], tf.uint8)], 0)
    following, second = padded[1:-1], padded[2:]
    unicode_separator = (data == 0xE2) & (following == 0x80)
    breaks = (tf.cast((data == 10) | ((data == 13) & (following != 10))
                      | (unicode_separator & (second == 0xA8)), tf.int32)
              + 2 * tf.cast(unicode_separator & (second == 0xA9), tf.int32))
    breaks_before = tf.concat([[0], tf.cumsum(breaks)], 0)  # [bytes + 1]
    gap_breaks = (tf.gather(breaks_before, global_start[1:])
                  - tf.gather(breaks_before, global_end[:-1]))  # [N - 1]
    final = tf.strings.regex_full_match(strings, _FINAL_WORD)  # [N]
    # A word that can open a sentence after a final word.
    capital = tf.strings.regex_full_match(strings, CAPITALISED_WORD)  # [N]
    new_text = text_of_word[1:] != text_of_word[:-1]  # [N - 1]
    # Each word's line so far, in bytes from the line's start (after the last
    # line break before the word, or the text's start) to the word's end.
    line_starts = tf.where(breaks > 0)[:, 0] + 1  # [L] the byte after each break
    line_start = tf.maximum(base, tf.gather(tf.concat([[0], line_starts], 0), tf.searchsorted(
        line_starts, global_start, side="right")))  # [N]
    line_length = global_end - line_start  # [N]
    longest = tf.gather(tf.math.unsorted_segment_max(line_length, text_of_word, tf.size(texts)),
                        text_of_word)  # [N] the longest line of the word's text
    short_line = line_length * 100 < SHORT_LINE_PERCENT * longest  # [N]
    boundary = tf.concat(
        [tf.ones([tf.minimum(tf.size(strings), 1)], tf.bool),
         new_text | (final[:-1] & capital[1:]) | (gap_breaks >= 2)
         | ((gap_breaks >= 1) & (final[:-1] | short_line[:-1]))], 0)  # [N]
    count = tf.size(strings, out_type=tf.int64)
    sentence_splits = tf.concat([tf.where(boundary)[:, 0], tf.reshape(count, [1])], 0)
    return {"strings": strings, "text_of_word": text_of_word, "starts": starts.flat_values,
            "ends": ends.flat_values, "global_starts": global_start,
            "global_ends": global_end, "sentence_splits": sentence_splits,
            "text_splits": words.row_splits, "joined": joined, "chars": chars}
