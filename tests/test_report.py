"""Tests for the evaluation report: evaluate()'s error analysis (evaluation.analysis,
expected values worked out by hand), its rendering and the command line
(evaluation.report). The prediction-file reader is tested in tests/test_data.py,
the scheme rules in tests/test_schemes.py."""

import json
import random

import pytest

import ner
from ner import schemes
from evaluation import analysis, render
from evaluation.analysis import evaluate
from evaluation.report import InputError, run
from ner.data import ConllFormatError, read_predictions
from tests.helpers import (EXAMPLE_CONLLEVAL, EXAMPLE_GOLD, EXAMPLE_PRED, EXAMPLE_TOKENS,
                           prediction_file, run_report_cli, write_text_file)

# tests.helpers' example as a prediction file, with a document separator and
# the extra blank lines real files have.
TOKENS_A, GOLD_A, PRED_A = EXAMPLE_TOKENS, EXAMPLE_GOLD, EXAMPLE_PRED
FILE_A = prediction_file(TOKENS_A, GOLD_A, PRED_A, blank_lines=2)
# What conlleval.pl prints for FILE_A (worked out in tests/test_metrics.py).
CONLLEVAL_A = EXAMPLE_CONLLEVAL

# A third sentence with the error classes example A lacks:
#   gold PER[0:2]: nothing overlaps              -> missed
#   gold LOC[3:5] vs predicted ORG[3:6]           -> wrong type and boundary
#   gold ORG[7:8]: nothing overlaps              -> missed
#   predicted MISC[6:7] overlaps no gold entity  -> spurious
TOKENS_C = ["a", "b", "c", "d", "e", "f", "g", "h"]
GOLD_C = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-ORG"]
PRED_C = ["O", "O", "O", "B-ORG", "I-ORG", "I-ORG", "B-MISC", "O"]


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


def test_iob2_predictions_on_iob1_gold_are_read_in_their_own_scheme(assert_equals_seqeval):
    # The original CoNLL-2003 files are IOB1; a tagger writes IOB2. Read with
    # IOB1's rules, every predicted B-X after O would be an ill-formed entity.
    gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["O", "I-ORG", "I-ORG"]]
    pred = [["B-PER", "I-PER", "B-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    result = evaluate(gold, pred)
    assert (result["scheme"], result["predicted_scheme"]) == ("IOB1", "IOB2")
    for mode in ("default", "strict"):
        micro = result[mode]["micro avg"]
        assert (micro["support"], micro["predicted"], micro["true_positives"]) == (4, 4, 4), mode
    assert result["invalid_transitions"] == {"scheme": "IOB2", "count": 0, "gold_count": 0,
                                             "examples": []}
    # The same entities in each column's own scheme, as seqeval scores them.
    assert_equals_seqeval(result["strict"], [schemes.convert(t, "IOB1", "IOB2") for t in gold],
                          pred)
    # An ill-formed prediction in its own scheme still does not count in strict mode.
    result = evaluate(gold, [pred[0], ["O", "I-ORG", "I-ORG"]])
    assert result["strict"]["micro avg"]["true_positives"] == 3
    assert result["default"]["micro avg"]["true_positives"] == 4
    assert result["invalid_transitions"]["count"] == 1
    text = render.format_report(result)
    assert "Input scheme: IOB1 gold, IOB2 predictions (scored as IOB2)" in text
    assert "Invalid transitions in predictions (IOB2 rules): 1" in text
    # A scheme the user names applies to both columns, as before.
    named = evaluate(gold, pred, scheme="IOB1")
    assert named["predicted_scheme"] == "IOB1"
    assert named["strict"]["micro avg"]["true_positives"] == 1  # only B-PER after I-PER


def test_iob2_predictions_on_bioes_gold_are_read_in_their_own_scheme():
    # `ner.tag --output_format=conll` keeps a BIOES gold column and writes IOB2
    # beside it: read as BIOES, every "B-X I-X" would be unfinished.
    gold = [["B-PER", "E-PER", "O", "S-LOC"], ["B-ORG", "I-ORG", "E-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
    result = evaluate(gold, pred)
    assert (result["scheme"], result["predicted_scheme"]) == ("BIOES", "IOB2")
    for mode in ("default", "strict"):
        micro = result[mode]["micro avg"]
        assert (micro["support"], micro["predicted"], micro["true_positives"]) == (3, 3, 3), mode
    assert result["invalid_transitions"]["count"] == 0
    assert "Input scheme: BIOES gold, IOB2 predictions" in render.format_report(result)
    # BIOES predictions stay BIOES, ill-formed ones included.
    bioes = evaluate(gold, [["B-PER", "E-PER", "O", "S-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]])
    assert bioes["predicted_scheme"] == "BIOES"
    assert bioes["strict"]["micro avg"]["true_positives"] == 2


def _pair_by_pair(gold_spans, pred_spans):
    """classify_spans' rules, comparing every pair (the reference for the fast path)."""
    def overlaps(a, b):
        return a[1] < b[2] and b[1] < a[2]
    out, by_bounds = [], {(p[1], p[2]): p for p in pred_spans}
    for g in gold_spans:
        same = by_bounds.get((g[1], g[2]))
        overlapping = [p for p in pred_spans if overlaps(g, p)]
        same_type = [p for p in overlapping if p[0] == g[0]]
        if same:
            out.append(("correct" if same == g else "wrong_type", g, same))
        elif same_type or overlapping:
            out.append(("wrong_boundary", g, same_type[0]) if same_type
                       else ("wrong_type_and_boundary", g, overlapping[0]))
        else:
            out.append(("missed", g, None))
    return out + [("spurious", None, p) for p in pred_spans
                  if not any(overlaps(g, p) for g in gold_spans)]


def _random_spans(rng, words):
    spans, i = [], 0
    while True:
        i += rng.randint(0, 3)
        length = rng.randint(1, 4)
        if i + length > words:
            return spans
        spans.append((rng.choice("AB"), i, i + length))
        i += length


def test_error_classes_take_linear_time_in_a_sentences_entities(monkeypatch):
    rng = random.Random(0)
    for _ in range(500):
        gold, pred = _random_spans(rng, 40), _random_spans(rng, 40)
        assert analysis.classify_spans(gold, pred) == _pair_by_pair(gold, pred)
    # One sentence of 100,000 words (a file without blank lines): no pair by
    # pair comparison, which took minutes.
    calls = []
    monkeypatch.setattr(analysis, "_overlaps", lambda a, b: calls.append(1) or False)
    gold, pred = _random_spans(rng, 100_000), _random_spans(rng, 100_000)
    classes = analysis.classify_spans(gold, pred)
    assert len(classes) >= len(gold) and not calls


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


def test_evaluate_equals_seqeval_on_perturbed_conll_dev(conll_dir, assert_equals_seqeval):
    _, gold, _ = read_predictions(str(conll_dir / "dev.txt"))  # gold is in the last column
    gold = gold[:1000]  # about 16k words; seqeval's strict mode is slow on more
    rng = random.Random(5)
    pred = [[rng.choice(["O", "B-PER", "I-LOC", "I-ORG"]) if rng.random() < 0.1 else tag
             for tag in tags] for tags in gold]
    result = evaluate(gold, pred, scheme="IOB2")
    for mode in ("default", "strict"):
        assert_equals_seqeval(result[mode], gold, pred)


# --- command line ----------------------------------------------------------------------

def test_run_checks_the_scheme_against_file_lines(tmp_path):
    path = write_text_file(tmp_path, "a B-PER B-PER\nb I-PER E-PER\n")
    with pytest.raises(ConllFormatError) as caught:
        run(predictions_in=path, scheme="IOB2")
    assert caught.value.line == 2
    assert "predicted tag 'E-PER' is not allowed in scheme IOB2" in str(caught.value)


def test_run_takes_the_scheme_aliases_in_any_case(tmp_path):
    path = write_text_file(tmp_path, "a B-PER B-PER\nb E-PER E-PER\n")
    assert run(predictions_in=path, scheme="iobes")["scheme"] == "BIOES"
    with pytest.raises(ValueError, match="unknown tag scheme 'BILOU'"):
        run(predictions_in=path, scheme="BILOU")


def test_run_names_a_missing_file(tmp_path):
    with pytest.raises(InputError, match="absent.txt: no such file"):
        run(predictions_in=str(tmp_path / "absent.txt"))
    with pytest.raises(InputError, match="absent.txt: no such file"):
        run(model_dir=str(tmp_path), data=str(tmp_path / "absent.txt"))
    for kwargs in ({"predictions_in": str(tmp_path)},
                   {"model_dir": str(tmp_path), "data": str(tmp_path)}):
        with pytest.raises(InputError, match=f"^{tmp_path}: a folder, where a file is expected"):
            run(**kwargs)


def test_the_conlleval_block_says_what_conlleval_counts_of_docstart_lines(tmp_path):
    # conlleval.pl reads "-DOCSTART- -X- O O" as one more (correct) token.
    text = ("-DOCSTART- -X- O O\n\nJohn NNP B-PER B-PER\nran VB O B-LOC\n\n"
            "-DOCSTART- -X- O O\n\nParis NNP B-LOC O\n")
    result = run(predictions_in=write_text_file(tmp_path, text))
    assert result["docstart_lines"] == (2, True)
    report = render.format_report(result)
    assert "processed 3 tokens with 2 phrases; found: 2 phrases; correct: 1." in report
    assert ("(conlleval.pl on the input file also counts its 2 -DOCSTART- lines as tokens: "
            "processed 5 tokens, accuracy:  60.00%; the entities are the same.)") in report
    # Lines conlleval.pl would not count as correct tokens: said, not computed.
    result = run(predictions_in=write_text_file(tmp_path, text.replace("-X- O O", "O O")))
    assert "lack the token lines' column count" in render.format_report(result)
    result = run(predictions_in=write_text_file(tmp_path, text.replace("-DOCSTART- -X- O O\n", "")))
    assert "DOCSTART" not in render.format_report(result)


def test_run_with_a_model_tags_the_data_file_by_document(tmp_path, monkeypatch):
    # A stand-in for ner.Tagger with the interface report.py relies on.
    calls = []

    class FakeTagger:
        entity_types = ["LOC", "PER"]
        precision = "int8"  # as if "auto" had chosen it

        @classmethod
        def load(cls, model_dir, precision):
            assert model_dir == str(tmp_path) and precision == "float32"  # the report's default
            return cls()

        def tag_tokens(self, words, documents=None, scheme=None):
            calls.append(documents)
            # A BIOES model: every capitalised word a one-word PER entity,
            # spelled in the scheme asked for, as `ner.Tagger.tag_tokens` does.
            assert scheme == "IOB2"  # the scheme the gold is read in
            tags = [["S-PER" if w[0].isupper() else "O" for w in sentence] for sentence in words]
            return [schemes.convert(t, "BIOES", scheme) for t in tags]

    monkeypatch.setattr(ner, "Tagger", FakeTagger, raising=False)
    # IOB1: read as IOB2, the file would fail at the orphan I-PER after "saw".
    data_path = write_text_file(tmp_path, "-DOCSTART- O\n\nPeter I-PER\nsaw O\nAnna I-PER\n"
                                          "Smith I-PER\n\nhe O\nleft O\n\n-DOCSTART- O\n\n"
                                          "Bonn B-LOC\n", "data.txt")
    out = tmp_path / "out.txt"

    result = run(model_dir=str(tmp_path), data=data_path, predictions=str(out), scheme="IOB1")
    assert calls == [[0, 0, 1]]  # each sentence with its document
    # Predicted PER[0:1] PER[2:3] PER[3:4] | - | PER[0:1], rewritten from BIOES;
    # gold PER[0:1] PER[2:4] | - | LOC[0:1].
    assert result["scheme"] == "IOB2"
    # What was scored, in --output's JSON: scores of two precisions are told apart.
    assert result["model"] == {"model_dir": str(tmp_path), "data": data_path, "precision": "int8",
                               "data_scheme": "IOB1"}
    # The header says the file was IOB1, converted on reading (it said "IOB2").
    assert render.format_report(result).splitlines()[0].startswith(
        "Input scheme: IOB1, converted to IOB2 on reading (scored as IOB2). 3 sentences")
    run(model_dir=str(tmp_path), data=data_path, scheme="IOB1", html=str(tmp_path / "r.html"))
    assert "scheme IOB1, converted to IOB2 on reading (scored as IOB2)" in \
        (tmp_path / "r.html").read_text(encoding="utf-8")
    micro = result["default"]["micro avg"]
    assert (micro["support"], micro["predicted"], micro["true_positives"]) == (3, 4, 1)
    assert out.read_text().splitlines() == [
        "Peter B-PER B-PER", "saw O O", "Anna B-PER B-PER", "Smith I-PER B-PER", "",
        "he O O", "left O O", "", "Bonn B-LOC B-PER", ""]


def test_run_with_a_model_scores_a_span_file_as_training_reads_it(tmp_path, monkeypatch,
                                                                   capsys):
    """A .jsonl file of texts with character-offset spans (a model trained on
    the user's own data) is split into words by the model's tokenizer."""
    from ner.tokenization import Tokenizer

    class FakeTagger:
        tokenizer = Tokenizer.from_pretrained()
        entity_types = ["Drug"]
        precision = "float32"

        @classmethod
        def load(cls, model_dir, precision):
            return cls()

        def tag_tokens(self, words, documents=None, scheme=None):
            return [["B-Drug" if w == "aspirin" else "O" for w in s] for s in words]

    monkeypatch.setattr(ner, "Tagger", FakeTagger, raising=False)
    data_path = write_text_file(tmp_path, json.dumps(
        {"text": "Take 5 mg aspirin daily.", "entities": [[5, 9, "Dose"], [10, 17, "Drug"]]})
        + "\n", "dev.jsonl")
    out = tmp_path / "out.txt"
    result = run(model_dir=str(tmp_path), data=data_path, predictions=str(out))
    assert out.read_text().splitlines() == [
        "Take O O", "5 B-Dose O", "mg I-Dose O", "aspirin B-Drug B-Drug", "daily O O", ". O O", ""]
    micro = result["default"]["micro avg"]
    assert (micro["support"], micro["predicted"], micro["true_positives"]) == (2, 1, 1)
    assert render.format_report(result).startswith(
        "Input scheme: character-offset spans, converted to IOB2 on reading (scored as IOB2).")
    # Dose is not a type the model tags: said, since it can only count as missed.
    assert capsys.readouterr().err == (
        f"report: warning: {data_path} has entity types the model does not tag (Dose; the "
        "model's: Drug): every entity of those types counts as missed\n")


def test_outputs_that_cannot_be_written_are_refused_before_any_tagging(tmp_path, monkeypatch):
    monkeypatch.setattr(ner, "Tagger", None, raising=False)  # tagging would fail
    data_path = write_text_file(tmp_path, "Bonn B-LOC\n", "data.txt")
    for flag in ("output", "predictions", "html"):
        target = str(tmp_path / "absent" / "r.json")
        with pytest.raises(InputError) as caught:
            run(model_dir=str(tmp_path), data=data_path, **{flag: target})
        assert str(caught.value).startswith(f"{target}: cannot write: no such folder")
        assert f"--{flag}" in str(caught.value) and ".partial" not in str(caught.value)
    with pytest.raises(InputError, match="is a folder"):
        run(model_dir=str(tmp_path), data=data_path, output=str(tmp_path))


def test_cli_smoke(tmp_path, repo_root):
    path = write_text_file(tmp_path, FILE_A)
    output, predictions = tmp_path / "report.json", tmp_path / "conlleval.txt"
    done = run_report_cli(f"--predictions_in={path}", f"--output={output}",
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
    path = write_text_file(tmp_path, "a O O\nb O O\nc O\nd O O O O\n")
    done = run_report_cli(f"--predictions_in={path}", cwd=repo_root)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"report: error: {path}:4: expected 3 columns (word ... gold pred) "
                           "like most lines, got 5\n")
