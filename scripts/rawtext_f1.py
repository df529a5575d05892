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


def gold_spans(sentences) -> tuple[list[str], set]:
    """(texts, {(sentence, start, end, type)}) of sentences joined by spaces."""
    texts, spans = [], set()
    for k, sentence in enumerate(sentences):
        starts, position = [], 0
        for word in sentence.tokens:
            starts.append(position)
            position += len(word) + 1
        texts.append(" ".join(sentence.tokens))
        spans |= chunks(k, sentence.tokens, sentence.tags, starts)
    return texts, spans


def chunks(k: int, words, tags, starts) -> set:
    """IOB2 `tags` of `words` (at character `starts`) as character spans."""
    found, i = set(), 0
    while i < len(tags):
        if tags[i].startswith("B-"):
            j = i + 1
            while j < len(tags) and tags[j] == "I-" + tags[i][2:]:
                j += 1
            found.add((k, starts[i], starts[j - 1] + len(words[j - 1]), tags[i][2:]))
            i = j
        else:
            i += 1
    return found


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
    texts, gold = gold_spans(sentences)
    tagger = ner.Tagger.load(args.model_dir, precision=args.precision)
    from_text = {(k, e.start, e.end, e.label)
                 for k, entities in enumerate(tagger.tag_batch(texts)) for e in entities}
    from_words = set()
    for k, (sentence, tags) in enumerate(zip(sentences, tagger.tag_tokens(
            [list(s.tokens) for s in sentences]))):
        starts, position = [], 0
        for word in sentence.tokens:
            starts.append(position)
            position += len(word) + 1
        from_words |= chunks(k, sentence.tokens, list(tags), starts)
    print(f"{args.data}, {len(sentences)} sentences, {tagger.precision}")
    print(f"raw text (tag_batch):    {score(gold, from_text)}")
    print(f"CoNLL words (tag_tokens): {score(gold, from_words)}")


if __name__ == "__main__":
    main()
