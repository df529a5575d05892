"""Entity F1 of a model on CoNLL sentences given as raw text, beside the same on their words.

    python scripts/rawtext_f1.py --model_dir=runs/d6_s42_again/model
    python scripts/rawtext_f1.py --model_dir=runs/d6_s42_again/model --layout=lines

CoNLL scores come from the data's own words (`Tagger.tag_tokens`); a user
gives raw text, which the tagger cuts into sentences and words itself
(`ner.segmentation`). Here each sentence's words are joined by single spaces
and tagged with `Tagger.tag_batch`; an entity counts as correct when its
character span and type equal a gold entity's. The same scoring is applied
to `tag_tokens` on the words, so the gap between the two lines is what the
text path loses (word splitting, sentence splitting) and nothing else.

`--layout` says how the sentences become texts: `sentences`, a text each
(the default); or a text per document, its sentences one per line
(`lines`), hard-wrapped at N columns with line breaks in place of spaces
(`wrapped:N`), or joined by spaces (`paragraph`). The last three measure
sentence splitting too.
"""

from __future__ import annotations

import argparse

from _common import default_data

from ner import schemes


def word_starts(words) -> list[int]:
    """Each word's character offset in the words joined by single spaces."""
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    return starts


def spans(k: int, words, tags) -> set:
    """Sentence `k`'s entities (`ner.schemes.chunks`, conlleval's rules) as
    (k, start, end, type) character spans in its words joined by spaces."""
    starts = word_starts(words)
    return {(k, starts[first], starts[last - 1] + len(words[last - 1]), kind)
            for kind, first, last in schemes.chunks(tags)}


def layout_texts(documents, layout: str) -> tuple[list[str], set]:
    """(texts, gold): the documents' sentences laid out as texts, and the gold
    entities as (text, start, end, type) character spans in them."""
    per_sentence = layout == "sentences"
    if not (per_sentence or layout in ("lines", "paragraph") or layout.startswith("wrapped:")):
        raise ValueError(f"--layout: sentences, lines, wrapped:N or paragraph, not {layout!r}")
    groups = ([[s] for d in documents for s in d.sentences] if per_sentence
              else [list(d.sentences) for d in documents])
    texts, gold = [], set()
    for k, sentences in enumerate(groups):
        parts, offset = [], 0
        for s in sentences:
            gold |= {(k, offset + a, offset + b, kind) for _, a, b, kind in spans(0, s.tokens, s.tags)}
            parts.append(" ".join(s.tokens))
            offset += len(parts[-1]) + 1
        text = ("\n" if layout == "lines" else " ").join(parts)
        if layout.startswith("wrapped:"):
            text = wrap(text, int(layout.split(":")[1]))
        texts.append(text)
    return texts, gold


def wrap(text: str, width: int) -> str:
    """`text` with spaces turned into line breaks so that no line is longer than
    `width` characters unless one word is; offsets do not move."""
    chars, line_start, last_space = list(text), 0, None
    for i, c in enumerate(chars + [" "]):
        if c == " ":
            if i - line_start > width and last_space is not None and last_space > line_start:
                chars[last_space] = "\n"
                line_start = last_space + 1
            last_space = i
    return "".join(chars)


def score(gold: set, predicted: set) -> str:
    correct = len(gold & predicted)
    p = correct / len(predicted) if predicted else 0.0
    r = correct / len(gold) if gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    # Truncated, not rounded, to two decimals.
    cut = lambda x: int(x * 10000) / 100  # noqa: E731
    return (f"gold {len(gold)}, predicted {len(predicted)}, correct {correct}: P {cut(p):.2f} "
            f"R {cut(r):.2f} F1 {cut(f1):.2f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--data", default=str(default_data()),
                        help="a CoNLL file (default: CoNLL-2003 test)")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--layout", default="sentences",
                        help="sentences (a text each), or a text per document: lines (a "
                             "sentence a line), wrapped:N (hard-wrapped at N columns), "
                             "paragraph (sentences joined by spaces)")
    args = parser.parse_args(argv)

    import ner
    from ner import data

    documents = data.read_conll(args.data)
    sentences = data.sentences(documents)
    texts, gold = layout_texts(documents, args.layout)
    tagger = ner.Tagger.load(args.model_dir, precision=args.precision)
    from_text = {(k, e.start, e.end, e.label)
                 for k, entities in enumerate(tagger.tag_batch(texts)) for e in entities}
    words_gold = {span for k, s in enumerate(sentences) for span in spans(k, s.tokens, s.tags)}
    from_words = {span for k, (s, tags) in enumerate(zip(sentences, tagger.tag_tokens(
        [list(s.tokens) for s in sentences]))) for span in spans(k, s.tokens, list(tags))}
    layout = "" if args.layout == "sentences" else f", as {len(texts)} texts ({args.layout})"
    print(f"{args.data}, {len(sentences)} sentences{layout}, {tagger.precision}")
    print(f"raw text (tag_batch):    {score(gold, from_text)}")
    print(f"CoNLL words (tag_tokens): {score(words_gold, from_words)}")


if __name__ == "__main__":
    main()
