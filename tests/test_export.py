"""The exported SavedModel: raw strings in, the same entities as `ner.Tagger` out.

The SavedModel is loaded in a fresh Python process that can import only
`tensorflow` and `tensorflow_text` (importing `ner` there raises), as a
TF Serving or other deployment would. Models are tiny and random, with an
"O" bias and a pull towards I- continuations, so that their output mixes O
words, one-word and multi-word entities and scores across (0, 1), and
depends on each word's context (so wrong windows would show).
"""

import collections
import dataclasses
import functools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from ner import casing, checkpoint, features
from ner.export import (ExportModule, _quiet_tensorflow, drop_unread_variables, export,
                        next_version_dir, save)
from ner.exported import load_tagger
from ner.model import TaggerModel
from ner.pipeline import Pipeline
from ner.precision import int8_available
from ner.tagger import Tagger
from tests.test_tagger import OFFSET_CASES
from tests.tiny_model import VOCAB, write_model_folder

# Offsets must survive every kind of character (issue 4's list), and the
# sentence and word rules the graph mirrors: blank lines (also "\r\n" and
# lone "\r"), ". Capital", zero-width and control characters inside words,
# uncased folding (İ, ß, final sigma), astral characters and CJK.
UNICODE_TEXTS = [
    "Zoë Ünal and José Müller met in São Paulo .",
    "Rene\u0301e Game\u0301 lives in Mu\u0308nchen .",  # combining marks
    "The 😀 emoji team 🇫🇷 France 𝐀𝐁𝐂 won in 2024 .",
    "東京 and 北京 are cities ; 習近平 visited .",
    "محمد عبد الله met דוד בן גוריון in القاهرة .",
    "Tab\tseparated\twords and\nnew lines\r\nand\rreturns .",
    "New\u200bYork and Ace\u200dCorp and \u200bLeading zero width .",
    "Control\x07char and nul\x00byte and bom\ufeff here .",
    "İstanbul and STRASSE and Straße and ΟΔΟΣ and ΑΣ.Α .",
    "First sentence . Second one ! Third ? lower case after . stays",
    "Paragraph one ends here\n\nParagraph two starts\r\n\r\nthree\r\rfour",
    "U.S. Army and U.N. troops , e.g. in the U.K.",
    "\u00a0non-breaking\u00a0space\u3000ideographic\u2028line\u2029para ",
    "",
    "   \n\t ",
    "a",
    "x" * 230 + " long word and " + "Übermäßig" * 12 + " more .",
    "John Smith lives in Paris. He is big! Is he?\n Dr. smith is in the U.S. Army.\n\nx\r\n \n"
    "acme corp. and more",
    " ", "\n\t\r\n", "\u00a0\u3000\u2028", "\u200b\u200d", "\x00\x07", "\u0301",
]
# The offset cases of the Tagger's tests. Lone surrogates are left out: they
# are not Unicode text and have no UTF-8 form to send to a SavedModel (the
# HTTP server refuses them with 422).
UNICODE_TEXTS += [text for text, _ in OFFSET_CASES.values()
                  if not any(0xD800 <= ord(c) <= 0xDFFF for c in text)]

# Runs in a fresh interpreter: argv = SavedModel folder, input JSON, output JSON.
_CHILD = r"""
import json, sys
sys.modules["ner"] = None  # importing the library must fail here
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the ops the graph uses

export_dir, request_path, result_path = sys.argv[1:]
request = json.load(open(request_path, encoding="utf-8"))
loaded = tf.saved_model.load(export_dir)
tag = loaded.signatures["serving_default"]
texts = request["texts"]
entities = []
for first in range(0, len(texts), 37):  # odd batches: padding differs per batch
    batch = [t.encode("utf-8") for t in texts[first:first + 37]]
    out = {k: v.numpy() for k, v in tag(texts=tf.constant(batch, tf.string)).items()}
    for b in range(len(batch)):
        n = int(out["num_entities"][b])
        entities.append([[out["labels"][b, i].decode(), int(out["char_starts"][b, i]),
                          int(out["char_ends"][b, i]), out["entity_texts"][b, i].decode(),
                          float(out["scores"][b, i]), int(out["byte_starts"][b, i]),
                          int(out["byte_ends"][b, i])] for i in range(n)])
        assert all(int(x) == -1 for x in out["char_starts"][b, n:])
wp = request["wordpieces"]
pieces = loaded.signatures["tag_wordpieces"](**{k: tf.constant(v, tf.int32) for k, v in wp.items()})
decoded = loaded.signatures["decode"](potentials=tf.constant(request["potentials"], tf.float32),
                                      lengths=tf.constant(request["lengths"], tf.int32))
try:
    bad = dict(wp, segment_ids=np.ones_like(wp["segment_ids"]).tolist())
    loaded.signatures["tag_wordpieces"](**{k: tf.constant(v, tf.int32) for k, v in bad.items()})
    segment_error = ""
except tf.errors.InvalidArgumentError as e:
    segment_error = e.message
empty = tag(texts=tf.constant([], tf.string))
blank = tag(texts=tf.constant(["", " \n\t\u3000", "\u200b"]))
try:
    tag(texts=tf.constant([b"fine", b"Paris \xff\xfe"]))
    utf8_error = ""
except tf.errors.InvalidArgumentError as e:
    utf8_error = e.message
shape_errors = []
words = loaded.signatures["tag_words"]
for call in (lambda: tag(texts=tf.constant("Paris")), lambda: tag(texts=tf.constant([["Paris"]])),
             lambda: words(words=tf.constant("Paris"), sentence_lengths=tf.constant([1], tf.int64),
                           documents=tf.constant([0], tf.int64))):
    try:
        call()
        shape_errors.append("")
    except tf.errors.InvalidArgumentError as e:
        shape_errors.append(e.message)
leaked = sorted(m for m in sys.modules if m == "ner" or m.startswith("ner.")
                if sys.modules[m] is not None)
json.dump({"entities": entities,
           "potentials": pieces["potentials"].numpy().tolist(),
           "window_labels": [[x.decode() for x in row] for row in pieces["labels"].numpy()],
           "decoded_labels": [[x.decode() for x in row] for row in decoded["labels"].numpy()],
           "segment_error": segment_error, "utf8_error": utf8_error,
           "empty_shapes": {k: v.shape.as_list() for k, v in empty.items()},
           "blank_counts": blank["num_entities"].numpy().tolist(),
           "blank_shape": blank["labels"].shape.as_list(), "leaked": leaked,
           "shape_errors": shape_errors},
          open(result_path, "w", encoding="utf-8"))
"""


def _random_model(path: Path, max_seq_length: int, document_context: bool) -> Path:
    vocab_file = checkpoint.default_encoder_dir() / "vocab.txt"
    vocab = vocab_file.read_text(encoding="utf-8").splitlines()
    write_model_folder(path, rules=None, vocab=vocab, max_seq_length=max_seq_length,
                       document_context=document_context, seed=3)
    model = TaggerModel.load(path)
    labels = model.config.labels
    # A random head tags nearly every word as an entity: favour O, and
    # favour I-X after B-X/I-X so that multi-word entities occur.
    model.dense_bias.assign(np.where(np.asarray(labels) == "O", 10.0, 0.0).astype(np.float32))
    transitions = model.crf.transitions.numpy()
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if b.startswith("I-") and a[2:] == b[2:]:
                transitions[i, j] += 3.0
    model.crf.transitions.assign(transitions)
    model.save(path, vocab)
    return path


def _conll_texts(conll_dir: Path, count: int = 240) -> list[str]:
    """`count` CoNLL test sentences as raw text: alone, or two or three to a text."""
    sentences, words = [], []
    with open(conll_dir / "test.txt", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if not fields:
                if words:
                    sentences.append(" ".join(words))
                words = []
            elif fields[0] != "-DOCSTART-":
                words.append(fields[0])
    sentences = sentences[:count]
    assert len(sentences) == count
    return _group(sentences)


def _group(sentences: list[str]) -> list[str]:
    """Sentences alone, or two or three to a text, joined by spaces or blank lines."""
    texts, i, pattern = [], 0, [1, 2, 1, 3]
    while i < len(sentences):
        size = pattern[len(texts) % len(pattern)]
        joiner = "\n\n" if len(texts) % 3 == 0 else " "
        texts.append(joiner.join(sentences[i:i + size]))
        i += size
    return texts


def _synthetic_texts(count: int = 240) -> list[str]:
    """Texts like `_conll_texts` makes, from made-up sentences (no licensed data)."""
    rng = np.random.default_rng(7)
    words = ("John Smith Paris New York Acme Corp lives in the city and works for "
             "a company , . Zoë İstanbul U.S. Army said on Monday that 42 people met "
             "Straße Müller 東京 e.g. ( ) \" ' - over").split()
    return _group([" ".join(rng.choice(words, size=rng.integers(3, 40))) + " ."
                   for _ in range(count)])


@pytest.fixture(scope="module")
def parity_texts(repo_root) -> list[str]:
    """CoNLL-2003 test sentences as raw text, or synthesised text in a clone without them."""
    for folder in (repo_root / "data" / "conll2003", repo_root.parent / "shared" / "data" / "conll2003"):
        if (folder / "test.txt").is_file():
            return _conll_texts(folder)
    return _synthetic_texts()


def test_synthetic_texts_are_like_conll_texts():
    # The parity test below must mean as much without the licensed data.
    texts = _synthetic_texts()
    assert len(texts) > 100 and sum(len(t.split()) for t in texts) > 3000
    assert any("\n\n" in t for t in texts) and any(". " in t for t in texts)


def _tuples(entities) -> list[list]:
    return [[e.label, e.start, e.end, e.text, e.score] for e in entities]


def _assert_same_entities(got: list[list], want: list[list], context: str) -> None:
    assert [g[:4] for g in got] == [w[:4] for w in want], context
    # Up to float rounding: the SavedModel normalises by written-out ops, the
    # tagger by oneDNN's fused LayerNorm on batches of 160 rows or more.
    np.testing.assert_allclose([g[4] for g in got], [w[4] for w in want], atol=5e-4,
                               err_msg=context)


@pytest.fixture(scope="module")
def context_model(tmp_path_factory) -> Path:
    # 16 wordpieces a window: many CoNLL sentences are cut into windows, and
    # the rest see neighbouring sentences of their text.
    return _random_model(tmp_path_factory.mktemp("context_model"), 16, document_context=True)


@pytest.fixture(scope="module")
def context_tagger(context_model) -> Tagger:
    return Tagger.load(context_model)


@pytest.fixture(scope="module")
def exported(context_tagger, tmp_path_factory) -> Path:
    module = ExportModule(context_tagger.model, context_tagger.tokenizer, window_batch_size=7)
    return save(module, tmp_path_factory.mktemp("export") / "ner")


@pytest.fixture(scope="module")
def listing(exported):
    """`saved_model_cli show --all`, started early: it runs beside other tests."""
    cli = Path(sys.executable).with_name("saved_model_cli")
    process = subprocess.Popen([str(cli), "show", "--dir", str(exported), "--all"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def _window_inputs(tagger: Tagger, sentences: list[list[str]]):
    """Windows of pre-tokenised sentences, as a client without TF Text builds them."""
    pieces = tagger.tokenizer.tokenize_words(sentences).to_list()  # [sentence][word][piece]
    windows, _ = features.make_windows(pieces, tagger.config.max_seq_length,
                                       tagger.tokenizer.cls_id, tagger.tokenizer.sep_id)
    batch = features.pad_batch(windows, range(len(windows)))
    inputs = {"input_ids": batch.input_ids, "input_mask": batch.input_mask,
              "segment_ids": np.zeros_like(batch.input_ids), "word_starts": batch.word_starts,
              "word_lengths": batch.word_lengths}
    return windows, inputs


def test_saved_model_in_a_fresh_process_matches_the_tagger(exported, listing, context_tagger,
                                                            parity_texts, tmp_path):
    conll = parity_texts
    texts = conll + UNICODE_TEXTS
    sentences = [["John", "Smith", "lives", "in", "New", "York", "."],
                 [f"w{i}" for i in range(30)], ["Straße", "İstanbul"]]
    windows, inputs = _window_inputs(context_tagger, sentences)
    # What a client does with several windows of a long sentence: put each
    # window's word potentials back at its words.
    encoded = [np.zeros((len(s), len(context_tagger.labels)), np.float32) for s in sentences]
    for i, w in enumerate(windows):
        pot = context_tagger.model.potentials(
            inputs["input_ids"][i:i + 1], inputs["input_mask"][i:i + 1],
            inputs["word_starts"][i:i + 1], inputs["word_lengths"][i:i + 1]
        ).numpy()[0, :inputs["word_lengths"][i]]
        encoded[w.sentence][w.first_word:w.first_word + len(pot)] = pot
    lengths = [len(p) for p in encoded]
    padded = np.zeros((len(encoded), max(lengths), len(context_tagger.labels)), np.float32)
    for r, p in enumerate(encoded):
        padded[r, :len(p)] = p
    request = {"texts": texts, "wordpieces": {k: v.tolist() for k, v in inputs.items()},
               "potentials": padded.tolist(), "lengths": lengths}
    (tmp_path / "request.json").write_text(json.dumps(request), encoding="utf-8")
    subprocess.run([sys.executable, "-c", _CHILD, str(exported), str(tmp_path / "request.json"),
                    str(tmp_path / "result.json")], check=True, cwd=tmp_path, timeout=300)
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result["leaked"] == []

    # Raw text: the Tagger on the CoNLL texts (batched) and on the unicode
    # cases (one by one) against the SavedModel.
    want = [_tuples(e) for e in context_tagger.tag_batch(conll)]
    want += [_tuples(context_tagger.tag(t)) for t in UNICODE_TEXTS]
    assert len(result["entities"]) == len(texts)
    for text, got, expected in zip(texts, result["entities"], want):
        _assert_same_entities(got, expected, repr(text))
        for label, start, end, entity_text, _, byte_start, byte_end in got:
            assert text[start:end] == entity_text
            assert byte_start == len(text[:start].encode("utf-8"))
            assert byte_end == len(text[:end].encode("utf-8"))
    # The comparison means something: O words, many entities, several
    # multi-word ones, and scores spread over (0, 1).
    found = [e for entities in result["entities"][:len(conll)] for e in entities]
    assert len(found) > 300
    assert sum(" " in e[3] for e in found) > 20
    assert sum(len(e) for e in want[:len(conll)]) < sum(len(t.split()) for t in conll) * 5
    scores = np.array([e[4] for e in found])
    assert scores.min() < 0.6 and scores.max() > 0.99
    assert sum(map(len, result["entities"][len(conll):])) > 20

    # Wordpiece signature: the model's own potentials, and per-window Viterbi.
    potentials = np.asarray(result["potentials"], np.float32)
    want_potentials = context_tagger.model.potentials(
        inputs["input_ids"], inputs["input_mask"], inputs["word_starts"],
        inputs["word_lengths"]).numpy()
    np.testing.assert_allclose(potentials, want_potentials, atol=1e-4)
    for row, labels in enumerate(result["window_labels"]):
        n = int(inputs["word_lengths"][row])
        assert all(label for label in labels[:n]) and not any(labels[n:])
    # Decode signature on re-assembled sentence potentials == tag_tokens.
    decoded = [row[:n] for row, n in zip(result["decoded_labels"], lengths)]
    assert decoded == context_tagger.tag_tokens(sentences)
    assert "segment_ids must be all 0" in result["segment_error"]

    # Edge cases: an empty batch, texts without words, bytes that are not UTF-8.
    assert result["empty_shapes"]["labels"] == [0, 0]
    assert result["empty_shapes"]["num_entities"] == [0]
    assert result["blank_counts"] == [0, 0, 0] and result["blank_shape"] == [3, 0]
    assert "texts must be valid UTF-8; invalid at batch positions" in result["utf8_error"]
    assert "[1]" in result["utf8_error"]
    # Inputs of another shape are named (a signature does not check shapes).
    for error, message in zip(result["shape_errors"], [
            "Shape of tensor texts [] is not compatible with expected shape [?].",
            "Shape of tensor texts [1,1] is not compatible with expected shape [?].",
            "Shape of tensor words [] is not compatible with expected shape [?]."], strict=True):
        assert message in error, error


def test_in_graph_windows_without_document_context_match_the_tagger(context_tagger, conll_dir):
    # The same weights with document context off (the training default):
    # no sentence sees another; long ones are cut, long words truncated.
    config = context_tagger.config
    texts = _conll_texts(conll_dir, 60) + UNICODE_TEXTS
    config.document_context = False
    try:
        module = ExportModule(context_tagger.model, context_tagger.tokenizer, window_batch_size=5)
        out = {k: v.numpy()
               for k, v in module.tag_texts(tf.constant([t.encode() for t in texts])).items()}
        # A graph reads the config when it is traced: a tagger made now.
        plain = Tagger(context_tagger.model, context_tagger.tokenizer)
        want = [_tuples(plain.tag(text)) for text in texts]
    finally:
        config.document_context = True
    for b, text in enumerate(texts):
        n = int(out["num_entities"][b])
        got = [[out["labels"][b, i].decode(), int(out["char_starts"][b, i]),
                int(out["char_ends"][b, i]), out["entity_texts"][b, i].decode(),
                float(out["scores"][b, i])] for i in range(n)]
        _assert_same_entities(got, want[b], repr(text))
    assert out["num_entities"].sum() > 100
    # Context matters to this model: with document context the same texts
    # are tagged differently somewhere.
    assert want != [_tuples(context_tagger.tag(text)) for text in texts]


def test_saved_model_cli_lists_both_signatures(listing):
    shown, _ = listing.communicate(timeout=300)
    assert listing.returncode == 0
    for signature in ("serving_default", "tag_wordpieces", "decode"):
        assert f"signature_def['{signature}']" in shown
    for name in ("texts", "input_ids", "input_mask", "segment_ids", "word_starts", "word_lengths",
                 "char_starts", "byte_starts", "scores", "num_entities", "potentials", "label_ids"):
        assert f"['{name}']" in shown, name


def test_versions_are_numbered_and_never_overwritten(exported, context_model, tmp_path):
    root = exported.parent
    assert exported.name == "1"
    assert (exported / "saved_model.pb").is_file()
    assert next_version_dir(root) == root / "2"
    assert next_version_dir(root / "missing") == root / "missing" / "1"
    # A killed export's partial version goes with the next export of any
    # version; a running one's stays.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for pid in (dead, os.getppid()):
        (root / f".7.partial-{pid}").mkdir()
    with pytest.raises(FileExistsError, match="exists already"):
        export(context_model, root, version=1)
    assert sorted(p.name for p in root.glob(".*")) == [f".7.partial-{os.getppid()}"]
    shutil.rmtree(root / f".7.partial-{os.getppid()}")
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        export(tmp_path / "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_two_exports_into_one_folder_at_once_both_land(context_model, tmp_path):
    """The next free version is taken when the SavedModel is complete: another
    export that finished first, after this one started, keeps its number, and
    this one lands at the next (it used to fail with its work done)."""
    root = tmp_path / "ner"
    save_model = tf.saved_model.save

    def another_export_finishes_first(*args, **kwargs):
        (root / "1").mkdir()
        (root / "1" / "saved_model.pb").write_bytes(b"theirs")
        return save_model(*args, **kwargs)

    with mock.patch("ner.export.tf.saved_model.save", another_export_finishes_first):
        path = export(context_model, root)
    assert path == root / "2"
    assert tf.saved_model.load(str(path)).signatures["serving_default"] is not None
    assert (root / "1" / "saved_model.pb").read_bytes() == b"theirs"
    assert sorted(p.name for p in root.iterdir()) == ["1", "2"]


def test_an_export_folder_that_cannot_hold_versions_is_refused(exported, context_model,
                                                               tmp_path):
    """A version written inside another version or a model folder is never found by
    TF Serving; a file is no folder. Each is refused before the model loads."""
    (tmp_path / "notes.txt").write_text("x")
    run = tmp_path / "run"  # a training output folder
    (run / "model").mkdir(parents=True)
    (run / "model" / "tagger_config.json").write_text("{}")
    for folder, message in ((exported, "is a SavedModel version folder; give the folder"),
                            (context_model, "is a model folder"),
                            (run, "is a model folder"),
                            (tmp_path / "notes.txt", "is a file")):
        with pytest.raises(ValueError, match=message):
            export(context_model, folder)
    assert sorted(p.name for p in exported.parent.iterdir()) == ["1"]
    assert not [p for p in exported.iterdir() if p.name.isdigit()]


def test_tag_wordpieces_names_inconsistent_inputs(context_tagger):
    """The exported tag_wordpieces signature checks what a client passes: a mask of
    another width used to be broadcast silently, and bad ids failed in a gather."""
    sentences = [["John", "Smith", "lives", "in", "New", "York", "."], ["Hello"]]
    _, good = _window_inputs(context_tagger, sentences)
    good = {name: tf.constant(value, tf.int32) for name, value in good.items()}
    sign = context_tagger.pipeline.tag_wordpieces
    assert sign(**good)["labels"].shape[0] == good["input_ids"].shape[0]
    ids, mask, starts, lengths = (good[k].numpy() for k in (
        "input_ids", "input_mask", "word_starts", "word_lengths"))
    limit = context_tagger.tokenizer.vocab_size * (
        casing.NUM_SHAPES if context_tagger.config.case_features else 1)
    for change, message in (
            ({"input_mask": mask[:, :-1]}, "input_mask must have the shape of input_ids"),
            ({"segment_ids": np.zeros_like(ids)[:1]}, "segment_ids must have the shape of"),
            ({"segment_ids": np.ones_like(ids)}, "segment_ids must be all 0"),
            ({"input_mask": mask * 2}, "input_mask must be 0 or 1"),
            ({"input_ids": ids - 1}, "input_ids must be >= 0"),
            ({"input_ids": ids + limit}, f"input_ids must be below {limit}"),
            ({"word_starts": starts[:1]}, "word_starts must have one row per window"),
            ({"word_lengths": lengths[:1]}, "word_lengths must have one entry per window"),
            ({"word_lengths": lengths + starts.shape[1]}, "word_lengths must be at most"),
            ({"word_starts": starts - 1}, "word_starts must be >= 0"),
            ({"word_starts": starts + ids.shape[1]}, "word_starts must be positions")):
        inputs = dict(good, **{k: tf.constant(v, tf.int32) for k, v in change.items()})
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"tag_wordpieces: {message}"):
            sign(**inputs)


def test_cli_reports_a_missing_model_folder(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ner.export", f"--model_dir={tmp_path / 'nope'}",
                          f"--export_dir={tmp_path / 'out'}"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2
    assert "export: error:" in run.stderr and str(tmp_path / "nope") in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_low_precision_export_uses_standard_ops_and_tags_as_the_tagger(
        context_model, parity_texts, tmp_path, precision):
    """A bfloat16 or int8 SavedModel holds no oneDNN-only op (the Tagger's weight-cached
    matmuls), so it loads anywhere, and tags as the Tagger does.

    The int8 export (about 25 s of tracing on 2 cores) is also the one whose
    weights (`_assert_holds_only_what_it_reads`) and loaded precision
    (`_assert_loads_in_its_precision`) are checked. It is of a folder whose
    int8 ranges are calibrated (as `ner.precision.check` does), which it carries.
    """
    if precision == "int8" and not int8_available():
        pytest.skip("no int8 kernels in this TensorFlow build")
    if precision == "int8":
        context_model = _calibrated_copy(context_model, tmp_path / "calibrated", parity_texts)
    path = export(context_model, tmp_path / "ner", precision=precision)
    tagger = Tagger.load(context_model, precision=precision)
    graph = (path / "saved_model.pb").read_bytes()
    assert b"_MklNativeFusedMatMul" not in graph and b"_QuantizedMatMul" not in graph
    assert b"_MklLayerNorm" not in graph
    assert (b"QuantizedMatMulWithBiasAndDequantize" if precision == "int8" else b"MatMul") in graph
    loaded = tf.saved_model.load(str(path))
    texts = parity_texts[:40]
    out = loaded.signatures["serving_default"](texts=tf.constant(texts))
    want = tagger.tag_batch(texts)
    assert sum(map(len, want)) > 20
    for b, expected in enumerate(want):
        n = int(out["num_entities"][b])
        got = [(out["labels"][b, i].numpy().decode(), int(out["char_starts"][b, i]),
                int(out["char_ends"][b, i])) for i in range(n)]
        assert got == [(e.label, e.start, e.end) for e in expected]
    if precision == "int8":
        assert json.loads((path / "assets" / "export.json").read_text())["int8_ranges"] == \
            "calibrated"
        _assert_holds_only_what_it_reads(path, context_model, precision)
        _assert_loads_in_its_precision(path, tagger, texts)


def _calibrated_copy(folder: Path, target: Path, texts: list[str]) -> Path:
    """A copy of `folder` whose precision.json holds int8 ranges calibrated on `texts`
    (as `ner.precision.check` calibrates on dev, whose tests cover it)."""
    from ner.model import weights_digest
    from ner.precision import CHECK_FILE

    target = Path(shutil.copytree(folder, target))
    tagger = Tagger.load(target)
    tagger.model.encoder.observe_int8_ranges()
    Tagger(tagger.model, tagger.tokenizer).tag_batch(texts[:200])
    ranges = tagger.model.encoder.observe_int8_ranges(False)
    (target / CHECK_FILE).write_text(json.dumps({
        "weights_sha256": weights_digest(target),
        "int8_ranges": {name: list(r) for name, r in ranges.items()}}))
    return target


def _assert_loads_in_its_precision(version: Path, tagger: Tagger, texts: list[str]) -> None:
    """`ner.exported.load_tagger` (what `ner.serve` and `ner.tag` load) reads the
    precision an int8 graph was exported in, refuses another, and tags as `tagger`."""
    loaded = load_tagger(version)
    assert loaded.precision == "int8"
    # Where TensorFlow has no oneDNN int8 kernels, the first call would fail
    # with "Missing 0-th output": loading says why instead.
    with mock.patch("ner.precision.int8_available", return_value=False):
        with pytest.raises(ValueError, match="exported in int8, which this TensorFlow cannot "
                                             "run: an int8 SavedModel runs only on a "
                                             "TensorFlow with oneDNN"):
            load_tagger(version)
    with mock.patch("ner.exported.tf.saved_model.load", return_value=loaded._loaded):
        assert load_tagger(version, precision="int8").precision == "int8"  # (graph loaded once)
    # Refused before the seconds of loading the graph.
    with mock.patch("ner.exported.tf.saved_model.load", side_effect=AssertionError("loaded")):
        with pytest.raises(ValueError, match="exported with precision int8"):
            load_tagger(version, precision="float32")
    assert [[(e.label, e.start, e.end) for e in t] for t in loaded.tag_batch(texts)] == \
        [[(e.label, e.start, e.end) for e in t] for t in tagger.tag_batch(texts)]


def _counting_traces(traced: collections.Counter):
    """`Pipeline`'s signature bodies, each counting in `traced` how often it is traced."""
    def counting(name):
        original = getattr(Pipeline, name)

        @functools.wraps(original)
        def body(self, *args):
            traced[name] += 1
            return original(self, *args)
        return body
    return mock.patch.multiple(Pipeline, **{name: counting(name) for name in SIGNATURE_BODIES})


SIGNATURE_BODIES = ("_serve_texts", "_serve_words", "_serve_wordpieces", "_serve_decode")


def test_saved_model_holds_only_the_weights_its_signatures_read(context_model, tmp_path):
    """No separate query, key and value beside their side-by-side copy (the int8
    export: `test_low_precision_export_uses_standard_ops_and_tags_as_the_tagger`),
    and no function beside the signatures: the ones only `ner.Tagger` calls
    would hold the pipeline's graph a second time. Saving traces nothing again:
    it reuses the graphs traced to find what the signatures read."""
    traced, before_saving = collections.Counter(), {}
    save_model = tf.saved_model.save

    def saving(*args, **kwargs):
        before_saving.update(traced)
        return save_model(*args, **kwargs)

    with _counting_traces(traced), mock.patch("ner.export.tf.saved_model.save", saving):
        path = export(context_model, tmp_path / "ner")
    assert set(before_saving) == set(SIGNATURE_BODIES)
    assert traced == before_saving
    _assert_holds_only_what_it_reads(path, context_model, "float32")
    saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0]
    assert {n for n in graph.signature_def if not n.startswith("__")} == {
        "serving_default", "tag_words", "tag_wordpieces", "decode"}
    root = {child.local_name for child in graph.object_graph_def.nodes[0].children}
    assert {"tag_texts", "tag_words", "tag_wordpieces", "decode"} <= root
    assert not root & {"entities", "word_tags", "sentences"}


def _assert_holds_only_what_it_reads(path: Path, context_model: Path, precision: str) -> None:
    """No separate query, key and value beside their side-by-side copy; in int8 no
    float32 dense weights beside the int8 ones (`drop_unread_variables`)."""
    saved = dict(tf.train.list_variables(str(path / "variables" / "variables")))
    weights = [n for n in saved if n.startswith("model/")]
    assert any("/layers/0/qkv/" in n for n in weights)
    assert not [n for n in weights if re.search(r"/layers/\d+/(query|key|value)/", n)]
    folder = dict(tf.train.list_variables(str(context_model / "model.ckpt")))
    size = lambda shapes: sum(int(np.prod(s)) for s in shapes)
    if precision == "float32":
        # The model folder's weights, once each (query, key and value as one).
        assert size(saved[n] for n in weights) == size(folder.values())
    else:
        dense = r"/layers/\d+/(qkv|attention_output|intermediate|output)/"
        assert not [n for n in weights if re.search(dense + r"(kernel|bias)/", n)]
        assert not [n for n in weights if "/int8/low/" in n]  # read by oneDNN's fused op only
        assert [n for n in weights if re.search(dense + r"int8/kernel/", n)]
        # The calibrated ranges of the int8 layers' inputs, 4 a block.
        layers = {n.split("/layers/")[1].split("/")[0] for n in weights if "/layers/" in n}
        assert len([n for n in weights if re.search(dense + "input_range/", n)]) == 4 * len(layers)


def test_a_weight_dropped_while_a_signature_reads_it_fails_the_export(context_model, tmp_path):
    """Saving reuses the graphs traced to find the unread weights; a weight they
    do read, dropped by mistake, still ends the export loudly, and no version
    is left behind."""
    tagger = Tagger.load(context_model)
    module = ExportModule(tagger.model, tagger.tokenizer)
    assert drop_unread_variables(module)
    transitions = tagger.model.crf.transitions  # read by every signature
    del tagger.model.crf.transitions  # no longer tracked by the model, still alive
    with pytest.raises(AssertionError, match="untracked"):
        save(module, tmp_path / "ner", version=1)
    assert not (tmp_path / "ner" / "1").exists()
    assert transitions.shape == (len(tagger.labels),) * 2


def test_export_keeps_what_a_bilstm_and_a_layer_mix_read(tmp_path):
    """The head's BiLSTM and layer mix are read by the signatures, so they stay."""
    plain = TaggerModel.load(write_model_folder(tmp_path / "plain", case_features=True))
    config = dataclasses.replace(plain.config, bilstm_units=5, layer_mix=True)
    tf.random.set_seed(1)
    model = TaggerModel(config)
    rng = np.random.default_rng(2)
    for variable in model.variables:
        variable.assign(rng.normal(0.0, 0.3, variable.shape).astype(np.float32))
    model.save(tmp_path / "m", VOCAB)
    path = export(tmp_path / "m", tmp_path / "ner")
    saved = [n for n, _ in tf.train.list_variables(str(path / "variables" / "variables"))]
    assert any("lstm" in n for n in saved) and any("mix" in n for n in saved)
    ids = np.array([[2, 5, 6, 14, 15, 8, 29, 3], [2, 7, 20, 16, 12, 13, 3, 0]], np.int32)
    mask = (ids > 0).astype(np.int32)
    starts = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 0]], np.int32)
    lengths = np.array([6, 5], np.int32)
    want = TaggerModel.load(tmp_path / "m").potentials(ids, mask, starts, lengths).numpy()
    out = tf.saved_model.load(str(path)).signatures["tag_wordpieces"](
        input_ids=ids, input_mask=mask, segment_ids=np.zeros_like(ids), word_starts=starts,
        word_lengths=lengths)
    assert np.abs(want).max() > 0.1
    np.testing.assert_allclose(out["potentials"].numpy(), want, atol=1e-4)


_LOADER_CHILD = r"""
import json, re, sys
from ner.exported import ExportedTagger

tagger = ExportedTagger.load(sys.argv[1])
entities = [[[e.label, e.start, e.end, e.text, e.score] for e in found]
            for found in tagger.tag_batch(json.loads(sys.argv[2]))]
maps = open("/proc/self/maps").read()
libraries = sorted(set(re.findall(r"tensorflow_text/python/ops/(_\w+)\.so", maps)))
print(json.dumps({"entities": entities, "libraries": libraries}))
"""


def test_exported_tagger_loads_with_only_the_tokenizers_text_ops(exported, context_tagger,
                                                                  parity_texts):
    texts = parity_texts[:40]
    run = subprocess.run([sys.executable, "-c", _LOADER_CHILD, str(exported), json.dumps(texts)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # The SavedModel's graph needs no op library beyond the tokenizer's three.
    assert result["libraries"] == ["_fast_wordpiece_tokenizer", "_normalize_ops",
                                   "_regex_split_ops"]
    want = [_tuples(found) for found in context_tagger.tag_batch(texts)]
    assert sum(map(len, want)) > 20
    for text, got, expected in zip(texts, result["entities"], want):
        _assert_same_entities(got, expected, repr(text))


def test_saving_drops_tensorflows_info_lines_and_keeps_warnings(tmp_path, caplog):
    """`ner.export` saves without TensorFlow's INFO chatter (a line per signature
    listing renamed inputs, sharding timings, the temporary folder)."""
    module = tf.Module()
    module.v = tf.Variable(1.0)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="absl")  # restored after the test
    tf.saved_model.save(module, str(tmp_path / "loud"))
    assert any(r.levelno == logging.INFO for r in caplog.records)  # what it would print
    caplog.clear()
    with _quiet_tensorflow():
        tf.saved_model.save(module, str(tmp_path / "quiet"))
        tf.get_logger().warning("a warning still shows")
    assert [r.getMessage() for r in caplog.records] == ["a warning still shows"]


def test_tag_words_names_inconsistent_inputs(context_tagger):
    """The exported tag_words signature checks what a client passes."""
    sign = context_tagger.pipeline.tag_words
    words = tf.constant(["John", "lives", "here"])
    good = sign(words, tf.constant([2, 1], tf.int64), tf.constant([0, 0], tf.int64))
    assert good["labels"].shape == (3,)
    for lengths, documents, message in (
            ([5], [0], "sentence_lengths must add up to the number of words"),
            ([4, -1], [0, 0], "sentence_lengths must be >= 0"),
            ([2, 1], [0], "documents must have one entry per sentence")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            sign(words, tf.constant(lengths, tf.int64), tf.constant(documents, tf.int64))
