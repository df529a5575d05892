"""Tests for evaluation.report: the prediction-file reader, evaluate()'s error
analysis (expected values worked out by hand), and the command line."""

import json
import random
import subprocess
import sys
import types

import pytest
from seqeval.metrics import classification_report as seqeval_report
from seqeval.scheme import IOB2

from evaluation.report import (InputError, detect_scheme, evaluate, invalid_transitions,
                               read_predictions, run, to_iob2, write_predictions)

# The example of tests/test_metrics.py as a prediction file, with a document
# separator and the extra blank lines real files have.
FILE_A = """-DOCSTART- O O

John B-PER B-PER
Smith I-PER I-PER
visited O O
New B-LOC B-ORG
York I-LOC I-ORG
. O O


The O O
UN B-ORG I-ORG
said O O
EU B-ORG B-MISC
and O O
Bonn B-LOC B-LOC
Berlin I-LOC B-LOC
"""
TOKENS_A = [["John", "Smith", "visited", "New", "York", "."],
            ["The", "UN", "said", "EU", "and", "Bonn", "Berlin"]]
GOLD_A = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"],
          ["O", "B-ORG", "O", "B-ORG", "O", "B-LOC", "I-LOC"]]
PRED_A = [["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"],
          ["O", "I-ORG", "O", "B-MISC", "O", "B-LOC", "B-LOC"]]
# What conlleval.pl prints for FILE_A (worked out in tests/test_metrics.py).
CONLLEVAL_A = (
    "processed 13 tokens with 5 phrases; found: 6 phrases; correct: 2.\n"
    "accuracy:  61.54%; precision:  33.33%; recall:  40.00%; FB1:  36.36\n"
    "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  2\n"
    "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
    "              ORG: precision:  50.00%; recall:  50.00%; FB1:  50.00  2\n"
    "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n")

# A third sentence with the error classes example A lacks:
#   gold PER[0:2]: nothing overlaps              -> missed
#   gold LOC[3:5] vs predicted ORG[3:6]           -> wrong type and boundary
#   gold ORG[7:8]: nothing overlaps              -> missed
#   predicted MISC[6:7] overlaps no gold entity  -> spurious
TOKENS_C = ["a", "b", "c", "d", "e", "f", "g", "h"]
GOLD_C = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-ORG"]
PRED_C = ["O", "O", "O", "B-ORG", "I-ORG", "I-ORG", "B-MISC", "O"]


def _write(tmp_path, text, name="pred.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- reading and writing prediction files ----------------------------------------------

def test_read_predictions(tmp_path):
    tokens, gold, pred = read_predictions(_write(tmp_path, FILE_A))
    assert (tokens, gold, pred) == (TOKENS_A, GOLD_A, PRED_A)


def test_read_predictions_extra_columns_and_missing_prediction(tmp_path):
    text = ("EU NNP B-NP B-ORG B-ORG\n"
            "rejects VBZ B-VP O\n"            # one column short: no prediction
            "German JJ B-NP B-MISC B-MISC\n"
            "\n"
            "Peter NNP B-NP B-PER I-PER\n")
    tokens, gold, pred = read_predictions(_write(tmp_path, text))
    assert tokens == [["EU", "rejects", "German"], ["Peter"]]
    assert gold == [["B-ORG", "O", "B-MISC"], ["B-PER"]]
    assert pred == [["B-ORG", None, "B-MISC"], ["I-PER"]]


@pytest.mark.parametrize("text, line, message", [
    ("a O O\nb O O\nc O\nd O O O O\n", 4,
     "expected 3 columns (word ... gold pred) like most lines, got 5"),
    ("a O O\nb PER O\n", 2, "gold malformed tag 'PER'"),
    ("a O O\n\nb B-PER B-\n", 3, "predicted malformed tag 'B-'"),
    ("a O\nb O\n", 1, "expected at least 3 columns"),
    ("", None, "empty file: no token lines"),
    ("-DOCSTART- O O\n\n", None, "empty file: no token lines"),
])
def test_read_predictions_bad_input_names_file_and_line(tmp_path, text, line, message):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        read_predictions(path)
    assert (caught.value.path, caught.value.line) == (path, line)
    assert message in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_read_predictions_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_predictions(str(tmp_path / "absent.txt"))


def test_write_predictions_round_trip(tmp_path):
    path = str(tmp_path / "out.txt")
    write_predictions(path, TOKENS_A, GOLD_A, PRED_A)
    lines = (tmp_path / "out.txt").read_text().split("\n")
    assert lines[:3] == ["John B-PER B-PER", "Smith I-PER I-PER", "visited O O"]
    assert lines[6] == ""  # blank line after the first sentence
    assert read_predictions(path) == (TOKENS_A, GOLD_A, PRED_A)


# --- schemes ---------------------------------------------------------------------------

@pytest.mark.parametrize("gold, pred, expected", [
    ([["B-PER", "I-PER", "O"]], [], "IOB2"),
    ([["O", "O"]], [["I-PER"]], "IOB2"),  # predictions alone never make it IOB1
    ([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]], [], "IOB1"),
    ([["I-PER", "O", "B-LOC"]], [], "IOB2"),  # B- opening an entity rules IOB1 out
    ([["B-PER", "E-PER"]], [], "BIOES"),
    ([["B-PER", "I-PER"]], [["S-PER", "O"]], "BIOES"),
])
def test_detect_scheme(gold, pred, expected):
    assert detect_scheme(gold, pred) == expected


@pytest.mark.parametrize("tags, scheme, expected", [
    (["O", "I-PER", "I-PER"], "IOB2", ["O", "I-PER", "I-PER"]),  # IOB2 is left alone
    (["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "IOB1", ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]),
    (["B-PER", "E-PER", "S-LOC", "B-ORG", "I-ORG", "E-ORG"], "BIOES",
     ["B-PER", "I-PER", "B-LOC", "B-ORG", "I-ORG", "I-ORG"]),
])
def test_to_iob2(tags, scheme, expected):
    assert to_iob2(tags, scheme) == expected


@pytest.mark.parametrize("tags, scheme, expected", [
    (["O", "I-PER", "B-LOC", "I-LOC", "I-PER"], "IOB2", [1, 4]),
    (["B-PER", "I-PER", "B-PER", "O", "B-LOC"], "IOB1", [0, 4]),
    (["I-PER", "B-PER", "I-PER", "I-LOC"], "IOB1", []),
    # I-LOC after E-; S- while I-LOC is open; B-ORG never closed (reported at len = 5).
    (["B-PER", "E-PER", "I-LOC", "S-LOC", "B-ORG"], "BIOES", [2, 3, 5]),
    (["B-PER", "I-LOC", "E-LOC"], "BIOES", [1]),
    (["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"], "BIOES", []),
])
def test_invalid_transitions_truth_table(tags, scheme, expected):
    assert invalid_transitions(tags, scheme) == expected


# --- evaluate ----------------------------------------------------------------------------

def test_evaluate_error_breakdown_and_confusion_by_hand():
    result = evaluate(GOLD_A + [GOLD_C], PRED_A + [PRED_C], TOKENS_A + [TOKENS_C], examples=1)
    assert result["scheme"] == "IOB2"
    assert (result["sentences"], result["tokens"]) == (3, 21)
    counts = result["errors"]["counts"]
    # A: New York LOC->ORG and EU ORG->MISC have the right span; Bonn Berlin -> Bonn | Berlin.
    assert counts == {"correct": 2, "missed": 2, "spurious": 1, "wrong_type": 2,
                      "wrong_boundary": 1, "wrong_type_and_boundary": 1}
    assert result["default"]["micro avg"]["support"] == 8 == sum(
        n for name, n in counts.items() if name != "spurious")
    examples = result["errors"]["examples"]
    assert examples["missed"] == [{"sentence": 2, "gold": ["PER", 0, 2], "pred": None,
                                   "gold_text": "a b"}]  # examples=1 keeps the first only
    assert examples["wrong_type"] == [{"sentence": 0, "gold": ["LOC", 3, 5],
                                       "pred": ["ORG", 3, 5], "gold_text": "New York",
                                       "pred_text": "New York"}]
    assert examples["wrong_boundary"] == [{"sentence": 1, "gold": ["LOC", 5, 7],
                                           "pred": ["LOC", 5, 6], "gold_text": "Bonn Berlin",
                                           "pred_text": "Bonn"}]
    assert examples["wrong_type_and_boundary"] == [{"sentence": 2, "gold": ["LOC", 3, 5],
                                                    "pred": ["ORG", 3, 6], "gold_text": "d e",
                                                    "pred_text": "d e f"}]
    assert examples["spurious"] == [{"sentence": 2, "gold": None, "pred": ["MISC", 6, 7],
                                     "pred_text": "g"}]

    confusion = result["confusion"]
    assert confusion["labels"] == ["LOC", "MISC", "ORG", "PER", "O"]
    nonzero = {(g, p): n for g, row in confusion["matrix"].items() for p, n in row.items() if n}
    assert nonzero == {
        ("PER", "PER"): 1, ("ORG", "ORG"): 1,              # PER[0:2], UN
        ("LOC", "ORG"): 1, ("ORG", "MISC"): 1,             # New York, EU
        ("LOC", "O"): 2, ("PER", "O"): 1, ("ORG", "O"): 1,  # Bonn Berlin, d e; a b; h
        ("O", "LOC"): 2, ("O", "ORG"): 1, ("O", "MISC"): 1,  # Bonn, Berlin; d e f; g
    }

    invalid = result["invalid_transitions"]
    assert (invalid["count"], invalid["gold_count"]) == (1, 0)
    assert invalid["examples"] == [{"sentence": 1, "position": 1, "previous": "O",
                                    "tag": "I-ORG", "word": "UN"}]
    assert result["missing_predictions"] == {"count": 0, "examples": []}
    json.dumps(result)  # JSON-ready


def test_evaluate_reports_default_and_strict_side_by_side():
    result = evaluate(GOLD_A, PRED_A)
    assert result["conlleval"] == CONLLEVAL_A
    assert result["default"]["micro avg"]["true_positives"] == 2
    assert result["strict"]["micro avg"]["true_positives"] == 1  # orphan I-ORG dropped
    assert result["strict"]["scheme"] == "IOB2"


def test_evaluate_counts_words_without_prediction():
    gold = [["B-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", ""], ["B-ORG", None]]
    result = evaluate(gold, pred, [["a", "b", "c"], ["d", "e"]], examples=2)
    assert result["missing_predictions"] == {
        "count": 3, "examples": [{"sentence": 0, "position": 1, "word": "b"},
                                 {"sentence": 0, "position": 2, "word": "c"}]}
    # Missing words are scored as O: LOC is missed, PER and ORG are right.
    default = result["default"]
    assert default["types"]["LOC"]["true_positives"] == 0
    assert default["micro avg"]["true_positives"] == 2
    assert default["correct_tags"] == 4


def test_evaluate_iob1_input():
    gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    pred = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"]]
    result = evaluate(gold, pred)
    assert result["scheme"] == "IOB1"
    for mode in ("default", "strict"):
        micro = result[mode]["micro avg"]
        assert (micro["support"], micro["predicted"], micro["true_positives"]) == (3, 2, 1)
    # Accuracy on the IOB2 rewrite: B-PER I-PER B-PER O B-LOC vs B-PER I-PER I-PER O B-LOC.
    assert result["default"]["correct_tags"] == 4
    assert result["invalid_transitions"]["count"] == 0


@pytest.mark.parametrize("gold, pred, kwargs, message", [
    ([["O"]], [["O", "O"]], {}, "sentence 0: 2 predicted tags for 1 words"),
    ([["O"], ["O"]], [["O"]], {}, "gold has 2 sentences but pred has 1"),
    ([["B-PER"]], [["E-PER"]], {"scheme": "IOB2"},
     "sentence 0, word 0: predicted tag 'E-PER' is not allowed in scheme IOB2"),
    ([["B-PER"]], [["PER"]], {}, "sentence 0, word 0: predicted malformed tag 'PER'"),
])
def test_evaluate_rejects_bad_input(gold, pred, kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate(gold, pred, **kwargs)


def test_evaluate_equals_seqeval_on_perturbed_conll_dev(conll_dir):
    _, gold, _ = read_predictions(str(conll_dir / "dev.txt"))  # gold is in the last column
    gold = gold[:1000]  # about 16k words; seqeval's strict mode is slow on more
    rng = random.Random(5)
    pred = [[rng.choice(["O", "B-PER", "I-LOC", "I-ORG"]) if rng.random() < 0.1 else tag
             for tag in tags] for tags in gold]
    result = evaluate(gold, pred, scheme="IOB2")
    for mode, kwargs in (("default", {}), ("strict", {"mode": "strict", "scheme": IOB2})):
        theirs = seqeval_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
        rows = [*result[mode]["types"].items(), ("micro avg", result[mode]["micro avg"])]
        for name, scores in rows:
            assert scores["f1"] == pytest.approx(theirs[name]["f1-score"], abs=1e-12)
            assert scores["support"] == theirs[name]["support"]


# --- command line ----------------------------------------------------------------------

def test_run_checks_the_scheme_against_file_lines(tmp_path):
    path = _write(tmp_path, "a B-PER B-PER\nb I-PER E-PER\n")
    with pytest.raises(InputError) as caught:
        run(predictions_in=path, scheme="IOB2")
    assert caught.value.line == 2
    assert "predicted tag 'E-PER' is not allowed in scheme IOB2" in str(caught.value)


def test_run_with_a_model_tags_the_data_file(tmp_path, monkeypatch):
    # Stand-ins for ner.Tagger and ner.data with the interface report.py relies on.
    class FakeTagger:
        @classmethod
        def load(cls, model_dir):
            assert model_dir == str(tmp_path)
            return cls()

        def tag_tokens(self, words):
            # A BIOES model: every capitalised word a one-word PER entity.
            return [["S-PER" if w[0].isupper() else "O" for w in sentence] for sentence in words]

    sentence = types.SimpleNamespace(tokens=["Peter", "saw", "Anna", "Smith"],
                                     tags=["B-PER", "O", "B-PER", "I-PER"], columns=[], line=3)
    data = types.ModuleType("ner.data")
    data.ConllFormatError = type("ConllFormatError", (ValueError,), {})
    read_calls = []
    data.read_conll = lambda path, scheme: read_calls.append((path, scheme)) or ["doc"]
    data.sentences = lambda docs: [sentence]
    ner = types.ModuleType("ner")
    ner.Tagger, ner.data = FakeTagger, data
    monkeypatch.setitem(sys.modules, "ner", ner)
    monkeypatch.setitem(sys.modules, "ner.data", data)
    data_path = _write(tmp_path, "unused by the fake reader\n", "data.txt")
    out = tmp_path / "out.txt"

    result = run(model_dir=str(tmp_path), data=data_path, predictions=str(out), scheme="IOB1")
    assert read_calls == [(data_path, "IOB1")]  # the file's scheme goes to the reader
    # Predicted PER[0:1] PER[2:3] PER[3:4], rewritten from BIOES; gold PER[0:1] PER[2:4].
    assert result["scheme"] == "IOB2"
    micro = result["default"]["micro avg"]
    assert (micro["support"], micro["predicted"], micro["true_positives"]) == (2, 3, 1)
    assert out.read_text().splitlines() == [
        "Peter B-PER B-PER", "saw O O", "Anna B-PER B-PER", "Smith I-PER B-PER", ""]


def _report(*args, cwd):
    return subprocess.run([sys.executable, "-m", "evaluation.report", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_smoke(tmp_path, repo_root):
    path = _write(tmp_path, FILE_A)
    output, predictions = tmp_path / "report.json", tmp_path / "conlleval.txt"
    done = _report(f"--predictions_in={path}", f"--output={output}",
                   f"--predictions={predictions}", cwd=repo_root)
    assert done.returncode == 0, done.stderr
    assert CONLLEVAL_A in done.stdout
    for heading in ("mode: default (conlleval)", "mode: strict (IOB2)", "right span, wrong type",
                    "Confusion of exact-span entities", "Invalid transitions in predictions (IOB2 "
                    "rules): 1", "Words without prediction (scored as O): 0"):
        assert heading in done.stdout
    # The per-type table row holds conlleval's ORG numbers in default mode and the
    # strict ones (support 2, found 1) next to them.
    assert ("ORG               |   50.00   50.00   50.00        2      2 |    0.00    0.00"
            "    0.00        2      1") in done.stdout
    report = json.loads(output.read_text())
    assert report["default"]["micro avg"]["true_positives"] == 2
    assert report["errors"]["counts"]["wrong_type"] == 2
    # The conlleval input file: one "word gold pred" line per word, blank after sentences.
    assert predictions.read_text() == "".join(
        "".join(f"{w} {g} {p}\n" for w, g, p in zip(*sentence)) + "\n"
        for sentence in zip(TOKENS_A, GOLD_A, PRED_A))


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, repo_root):
    path = _write(tmp_path, "a O O\nb O O\nc O\nd O O O O\n")
    done = _report(f"--predictions_in={path}", cwd=repo_root)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"report: error: {path}:4: expected 3 columns (word ... gold pred) "
                           "like most lines, got 5\n")
