"""Shared fixtures: where the repository and the real CoNLL-2003 files are."""

import os
from pathlib import Path

import pytest

# Two xdist workers share the machine's cores: with TensorFlow's default of
# one compute thread per core in each, they oversubscribe them. One thread
# each ran tests/test_export.py in 114 s instead of 127 s (2 cores). Set
# before any test imports TensorFlow; subprocesses inherit it. A value the
# caller set is kept.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

_REPO_ROOT = Path(__file__).resolve().parent.parent
_SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding `ner/` and `tests/`)."""
    return _REPO_ROOT


@pytest.fixture(scope="session")
def conll_dir(repo_root: Path) -> Path:
    """Folder with the real CoNLL-2003 `train.txt`, `dev.txt` and `test.txt`.

    Looks in `data/conll2003/` (where `make` and the CI link them) and then in
    `../shared/data/conll2003/`. The licence forbids committing the files, so
    the tests skip only when neither place has all three.
    """
    candidates = (repo_root / "data" / "conll2003", repo_root.parent / "shared" / "data" / "conll2003")
    for folder in candidates:
        if all((folder / f"{split}.txt").is_file() for split in _SPLITS):
            return folder
    pytest.skip(f"CoNLL-2003 train/dev/test.txt not found in {' or '.join(map(str, candidates))}")


# BERT-tester sizes: mutually distinct, so a transposed axis cannot pass.
TINY_BERT = dict(vocab_size=0, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, max_position_embeddings=128, type_vocab_size=2,
                 hidden_act="gelu")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A Google-format BERT folder with random tiny weights and the default vocab.

    Written with our own name-based checkpoint writer, which produces the same
    TF checkpoint format as Google's release (`bert_model.ckpt.index/.data`).
    """
    import json
    import shutil

    import tensorflow as tf

    from ner import checkpoint
    from ner.bert import BertConfig, BertEncoder

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = checkpoint.default_encoder_dir() / "vocab.txt"
    shutil.copy(vocab, folder / "vocab.txt")
    with vocab.open(encoding="utf-8") as f:
        n_vocab = sum(1 for _ in f)
    values = dict(TINY_BERT, vocab_size=n_vocab)
    (folder / "bert_config.json").write_text(json.dumps(values))
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    tf.random.set_seed(1234)
    encoder = BertEncoder(BertConfig.from_dict(values))
    checkpoint.save_variables(folder / "bert_model.ckpt", encoder.variables_by_name())
    return folder


@pytest.fixture(scope="session")
def assert_equals_seqeval():
    """A check that one mode's scores equal seqeval's on the same tags.

    Call it as `assert_equals_seqeval(scores, gold, pred)`, where `scores` is
    a `classification_report` dict (or `evaluate(...)["default"]`/`["strict"]`)
    for `gold` and `pred`: every type's and average's precision, recall and
    F1 must equal seqeval's (`zero_division=0`; strict mode with the report's
    scheme) to 1e-12, and every support exactly.
    """
    from seqeval.metrics import classification_report as seqeval_report
    from seqeval.scheme import IOB1, IOB2, IOBES

    averages = ("micro avg", "macro avg", "weighted avg")

    def check(scores: dict, gold, pred) -> None:
        strict = {"mode": "strict", "scheme": {"IOB1": IOB1, "IOB2": IOB2, "BIOES": IOBES}[
            scores["scheme"]]} if scores["mode"] == "strict" else {}
        theirs = seqeval_report(gold, pred, output_dict=True, zero_division=0, **strict)
        assert set(scores["types"]) == set(theirs) - set(averages)
        for name, mine in [*scores["types"].items(), *((a, scores[a]) for a in averages)]:
            for key, their_key in (("precision", "precision"), ("recall", "recall"),
                                   ("f1", "f1-score")):
                assert mine[key] == pytest.approx(theirs[name][their_key], abs=1e-12), (name, key)
            assert mine["support"] == theirs[name]["support"], name

    return check
