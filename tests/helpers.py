"""Small helpers shared by several test modules (plain functions and classes, not fixtures)."""

import copy
import subprocess
import sys
from pathlib import Path

# The worked example of the evaluation tests: two sentences (John Smith visited
# New York . / The UN said EU and Bonn Berlin) and what conlleval.pl prints for
# them, worked out by hand from its rules in tests/test_metrics.py.
EXAMPLE_TOKENS = [["John", "Smith", "visited", "New", "York", "."],
                  ["The", "UN", "said", "EU", "and", "Bonn", "Berlin"]]
EXAMPLE_GOLD = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"],
                ["O", "B-ORG", "O", "B-ORG", "O", "B-LOC", "I-LOC"]]
EXAMPLE_PRED = [["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"],
                ["O", "I-ORG", "O", "B-MISC", "O", "B-LOC", "B-LOC"]]
EXAMPLE_CONLLEVAL = (
    "processed 13 tokens with 5 phrases; found: 6 phrases; correct: 2.\n"
    "accuracy:  61.54%; precision:  33.33%; recall:  40.00%; FB1:  36.36\n"
    "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  2\n"
    "             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
    "              ORG: precision:  50.00%; recall:  50.00%; FB1:  50.00  2\n"
    "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n")


def prediction_file(tokens, gold, pred, blank_lines: int = 1) -> str:
    """The text of a prediction file: `-DOCSTART- O O`, then "word gold pred" lines.

    Sentences are separated by `blank_lines` empty lines; the text ends with
    the last sentence's newline.
    """
    blocks = ["".join(f"{w} {g} {p}\n" for w, g, p in zip(*sentence))
              for sentence in zip(tokens, gold, pred)]
    return "-DOCSTART- O O\n\n" + ("\n" * blank_lines).join(blocks)


def write_text_file(folder: Path, text: str, name: str = "pred.txt") -> str:
    """Writes `text` (UTF-8) to `folder / name`, e.g. a CoNLL sample; returns the path as str."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_report_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    """Runs `python -m evaluation.report *args` in `cwd`; text output captured, 120 s limit."""
    return subprocess.run([sys.executable, "-m", "evaluation.report", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def train_killed_after_epoch(epoch: int, options) -> None:
    """`ner.train.train(options)` killed right after epoch `epoch`'s checkpoint is
    written, as a SIGKILL would leave it: the KeyboardInterrupt is expected and caught."""
    import pytest

    from ner import train

    real_write = train._write_state

    def write_then_die(folder, trainer, state):
        real_write(folder, trainer, state)
        if state["epoch"] == epoch:
            raise KeyboardInterrupt(f"killed after epoch {epoch}")

    train._write_state = write_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            train.train(options)
    finally:
        train._write_state = real_write


class ScriptedDev:
    """Stands in for `train.evaluate_split`: the training loop's dev F1s follow `f1s`.

    Once `f1s` runs out, evaluations are real (the test's counts catch any
    evaluation too many). The final scoring of the best model, once
    `train._best_tagger` has given its tagger, is always real. `install`
    puts it in place of both.
    """

    # `train`'s own functions, read at the first construction: before any
    # ScriptedDev has replaced them.
    _real: dict = {}

    def __init__(self, f1s):
        from ner import train

        if not ScriptedDev._real:
            ScriptedDev._real.update(evaluate=train.evaluate_split, best_tagger=train._best_tagger)
        self.f1s = list(f1s)
        self.final = False
        self.calls = 0

    def install(self, monkeypatch) -> "ScriptedDev":
        from ner import train

        monkeypatch.setattr(train, "evaluate_split", self)
        monkeypatch.setattr(train, "_best_tagger", self._best_tagger)
        return self

    def _best_tagger(self, *args, **kwargs):
        self.final = True
        return self._real["best_tagger"](*args, **kwargs)

    def __call__(self, tagger, sents, documents):
        result, pred = self._real["evaluate"](tagger, sents, documents)
        if self.final or not self.f1s:
            return result, pred
        self.calls += 1
        result = copy.deepcopy(result)
        result["default"]["micro avg"]["f1"] = self.f1s.pop(0)
        return result, pred
