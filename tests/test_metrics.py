"""Tests for evaluation.metrics: truth tables, conlleval numbers worked out by
hand from conlleval.pl's rules, and a seeded differential test against seqeval.
(Default-mode chunking, `ner.schemes.chunks`, is tested in tests/test_schemes.py.)"""

import random

import pytest
from seqeval.scheme import IOB1, IOB2, IOBES, Tokens

from evaluation.metrics import classification_report, format_conlleval, strict_entities
from tests.helpers import EXAMPLE_CONLLEVAL as CONLLEVAL_A
from tests.helpers import EXAMPLE_GOLD as GOLD_A
from tests.helpers import EXAMPLE_PRED as PRED_A


# --- strict_entities: seqeval mode='strict' --------------------------------------------

@pytest.mark.parametrize("scheme, tags, expected", [
    ("IOB2", ["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    ("IOB2", ["I-PER", "I-PER"], []),
    ("IOB2", ["O", "I-PER", "B-PER", "I-PER"], [("PER", 2, 4)]),
    ("IOB2", ["B-PER", "I-LOC"], [("PER", 0, 1)]),
    ("IOB2", ["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    ("IOB1", ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
     [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]),
    # In IOB1 a B- after O is ill formed; the I- after it still opens an entity.
    ("IOB1", ["B-PER"], []),
    ("IOB1", ["O", "B-PER", "I-PER"], [("PER", 2, 3)]),
    ("BIOES", ["B-PER", "E-PER", "S-LOC"], [("PER", 0, 2), ("LOC", 2, 3)]),
    ("BIOES", ["B-PER", "I-PER", "O"], []),
    ("BIOES", ["B-PER", "I-PER", "B-PER", "E-PER"], [("PER", 2, 4)]),
    ("BIOES", ["S-PER", "E-PER"], [("PER", 0, 1)]),
    ("BIOES", ["I-PER", "E-PER"], []),
])
def test_strict_entities_truth_table(scheme, tags, expected):
    assert strict_entities(tags, scheme) == expected


def test_strict_rejects_prefixes_outside_the_scheme():
    with pytest.raises(ValueError, match="position 1: tag 'E-PER' is not allowed in scheme IOB2"):
        strict_entities(["B-PER", "E-PER"], "IOB2")
    with pytest.raises(ValueError, match="unknown tag scheme 'IOE2'"):
        strict_entities(["O"], "IOE2")


# --- classification_report and format_conlleval: numbers worked out by hand ------------

# tests.helpers' example: two sentences (John Smith visited New York . / The UN said EU
# and Bonn Berlin).
# By conlleval's rules: gold chunks PER[0:2] LOC[3:5] | ORG[1:2] ORG[3:4] LOC[5:7] = 5;
# predicted PER[0:2] ORG[3:5] | ORG[1:2] (orphan I-ORG after O) MISC[3:4] LOC[5:6]
# LOC[6:7] = 6; correct PER[0:2] and ORG[1:2] = 2. Tags equal on 4 + 4 of 13 words.
# precision 100*2/6 = 33.33, recall 100*2/5 = 40.00, FB1 2*P*R/(P+R) = 36.36,
# accuracy 100*8/13 = 61.54; the last number on a type line is its predicted count.


@pytest.mark.parametrize("gold, pred, expected", [
    (GOLD_A, PRED_A, CONLLEVAL_A),
    # IOB1 input: gold PER[0:2] PER[2:3], predicted PER[0:3]; 3 of 4 tags equal.
    ([["I-PER", "I-PER", "B-PER", "O"]], [["I-PER", "I-PER", "I-PER", "O"]],
     "processed 4 tokens with 2 phrases; found: 1 phrases; correct: 0.\n"
     "accuracy:  75.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
     "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"),
    # Type switch I-PER I-LOC: two predicted chunks, neither equals gold PER[0:2].
    ([["B-PER", "I-PER"]], [["I-PER", "I-LOC"]],
     "processed 2 tokens with 1 phrases; found: 2 phrases; correct: 0.\n"
     "accuracy:   0.00%; precision:   0.00%; recall:   0.00%; FB1:   0.00\n"
     "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
     "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"),
    # Rounding: 200/3 = 66.67; LOC FB1 = 2*66.67*100/166.67 = 80.00; PER found nothing.
    ([["B-LOC", "O", "B-LOC", "O", "B-PER"]], [["B-LOC", "O", "B-LOC", "O", "B-LOC"]],
     "processed 5 tokens with 3 phrases; found: 3 phrases; correct: 2.\n"
     "accuracy:  80.00%; precision:  66.67%; recall:  66.67%; FB1:  66.67\n"
     "              LOC: precision:  66.67%; recall: 100.00%; FB1:  80.00  3\n"
     "              PER: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"),
    # No tokens: conlleval prints only the first line.
    ([], [], "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"),
])
def test_format_conlleval_hand_computed(gold, pred, expected):
    assert format_conlleval(classification_report(gold, pred)) == expected


def test_report_counts_default_and_strict_by_hand():
    default = classification_report(GOLD_A, PRED_A)
    assert default["mode"] == "default" and default["scheme"] is None
    assert (default["tokens"], default["correct_tags"]) == (13, 8)
    assert default["accuracy"] == pytest.approx(8 / 13)
    assert list(default["types"]) == ["LOC", "MISC", "ORG", "PER"]
    org = default["types"]["ORG"]
    assert (org["support"], org["predicted"], org["true_positives"]) == (2, 2, 1)
    assert org["precision"] == org["recall"] == org["f1"] == 0.5
    micro = default["micro avg"]
    assert (micro["support"], micro["predicted"], micro["true_positives"]) == (5, 6, 2)
    assert micro["f1"] == pytest.approx(2 * (2 / 6) * (2 / 5) / (2 / 6 + 2 / 5))
    # Macro: mean over LOC 0, MISC 0, ORG .5, PER 1.
    assert default["macro avg"]["f1"] == pytest.approx(0.375)
    assert default["macro avg"]["support"] == 5

    # Strict IOB2: the orphan I-ORG is no entity, so ORG is predicted once and never right.
    strict = classification_report(GOLD_A, PRED_A, mode="strict", scheme="IOB2")
    assert strict["mode"] == "strict" and strict["scheme"] == "IOB2"
    org = strict["types"]["ORG"]
    assert (org["support"], org["predicted"], org["true_positives"]) == (2, 1, 0)
    micro = strict["micro avg"]
    assert (micro["support"], micro["predicted"], micro["true_positives"]) == (5, 5, 1)
    assert micro["precision"] == micro["recall"] == pytest.approx(0.2)


def test_orphan_i_scores_one_by_default_and_zero_strict():
    # STYLE.md: [['B-ORG','I-ORG']] vs [['I-ORG','I-ORG']] is F1 1 by default, 0 strict.
    gold, pred = [["B-ORG", "I-ORG"]], [["I-ORG", "I-ORG"]]
    assert classification_report(gold, pred)["micro avg"]["f1"] == 1.0
    assert classification_report(gold, pred, mode="strict")["micro avg"]["f1"] == 0.0


def test_length_mismatch_names_the_sentence():
    with pytest.raises(ValueError, match="sentence 1: gold has 2 tags but pred has 1"):
        classification_report([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="gold has 2 sentences but pred has 1"):
        classification_report([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: position 0: malformed tag 'PER'"):
        classification_report([["PER"]], [["O"]])
    with pytest.raises(ValueError, match="unknown mode"):
        classification_report([], [], mode="lenient")


# --- differential test against the seqeval package --------------------------------------

TYPES = ("PER", "LOC", "ORG")


def _random_tags(rng, prefixes, length):
    return ["O" if rng.random() < 0.4 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}"
            for _ in range(length)]


@pytest.mark.parametrize("scheme, seqeval_scheme, prefixes", [
    ("IOB2", IOB2, "BI"), ("IOB1", IOB1, "BI"), ("BIOES", IOBES, "BIES")])
def test_strict_entities_equal_seqeval_on_random_sequences(scheme, seqeval_scheme, prefixes):
    rng = random.Random(7)
    for _ in range(400):
        tags = _random_tags(rng, prefixes, rng.randint(0, 30))
        expected = [(e.tag, e.start, e.end) for e in Tokens(tags, seqeval_scheme).entities]
        assert strict_entities(tags, scheme) == expected, tags


@pytest.mark.parametrize("mode, scheme, prefixes, first", [
    ("default", "IOB2", "BIES", "B-PER"),
    ("strict", "IOB2", "BI", "B-PER"),
    ("strict", "IOB1", "BI", "I-PER"),
    ("strict", "BIOES", "BIES", "S-PER"),
])
def test_report_equals_seqeval_on_random_corpora(mode, scheme, prefixes, first,
                                                 assert_equals_seqeval):
    rng = random.Random(1234)
    for _ in range(40):  # 40 corpora x 8 sentences = 320 sequences per mode
        gold = [_random_tags(rng, prefixes, rng.randint(1, 30)) for _ in range(8)]
        pred = [_random_tags(rng, prefixes, len(tags)) for tags in gold]
        # One well-formed gold entity, so seqeval never averages over nothing.
        gold[0][0] = first
        assert_equals_seqeval(classification_report(gold, pred, mode=mode, scheme=scheme),
                              gold, pred)


def test_strict_scores_of_one_long_sentence_take_linear_time(monkeypatch):
    # seqeval copies the rest of a sentence at each strict entity; a file
    # without blank lines is one sentence. Cut where both sides say O, it
    # only ever sees short runs.
    import evaluation.metrics as metrics
    import seqeval.scheme

    longest = []

    class Recording(seqeval.scheme.Tokens):
        def __init__(self, tokens, *args, **kwargs):
            longest.append(len(tokens))
            super().__init__(tokens, *args, **kwargs)

    monkeypatch.setattr(seqeval.scheme, "Tokens", Recording)  # seqeval's Entities use it too
    rng = random.Random(3)
    gold = _random_tags(rng, "BI", 100_000)
    pred = [tag if rng.random() < 0.9 else "O" for tag in gold]
    report = metrics.classification_report([gold], [pred], mode="strict", scheme="IOB2")
    assert report["micro avg"]["support"] > 10_000
    assert longest and max(longest) < 100


def test_no_entities_scores_zero_without_asking_seqeval():
    report = classification_report([["O", "O"]], [["O", "O"]])
    assert report["types"] == {}
    for average in ("micro avg", "macro avg", "weighted avg"):
        assert report[average] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0,
                                   "predicted": 0, "true_positives": 0}
    assert report["accuracy"] == 1.0
