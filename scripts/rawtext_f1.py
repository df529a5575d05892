"""Entity F1 of a model on CoNLL sentences given as raw text, beside the same on their words.

    python scripts/rawtext_f1.py --model_dir=runs/ema4_s42/model

CoNLL scores come from the data's own words (`Tagger.tag_tokens`); a user
gives raw text, which the tagger cuts into sentences and words itself
(`ner.segmentation`). Here each sentence's words are joined by single spaces
and tagged as one text with `Tagger.tag_batch`; an entity counts as correct
when its character span and type equal a gold entity's. The same scoring is
applied to `tag_tokens` on the words, so the gap between the two lines is
what the text path loses (word splitting, sentence splitting) and nothing
else.
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
    args = parser.parse_args(argv)

    import ner
    from ner import data

    sentences = data.sentences(data.read_conll(args.data))
    gold = {span for k, s in enumerate(sentences) for span in spans(k, s.tokens, s.tags)}
    tagger = ner.Tagger.load(args.model_dir, precision=args.precision)
    texts = [" ".join(s.tokens) for s in sentences]
    from_text = {(k, e.start, e.end, e.label)
                 for k, entities in enumerate(tagger.tag_batch(texts)) for e in entities}
    from_words = {span for k, (s, tags) in enumerate(zip(sentences, tagger.tag_tokens(
        [list(s.tokens) for s in sentences]))) for span in spans(k, s.tokens, list(tags))}
    print(f"{args.data}, {len(sentences)} sentences, {tagger.precision}")
    print(f"raw text (tag_batch):    {score(gold, from_text)}")
    print(f"CoNLL words (tag_tokens): {score(gold, from_words)}")


if __name__ == "__main__":
    main()
