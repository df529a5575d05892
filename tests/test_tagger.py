"""Tests of `ner.Tagger`: offsets, sentences, windows, scores, batching, loading.

The tiny "rule" model (tests/tiny_model.py) gives each word potentials that
depend on its first wordpiece alone (john -> B-PER, smith -> I-PER, paris ->
B-LOC, new/york -> B-LOC/I-LOC, acme/corp -> B-ORG/I-ORG, zoe/istanbul -> B-),
so the expected entities of a text are known without running the model. The
"random" model has context-dependent random weights and document context, for
the batching tests.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

import ner
from ner import features
from ner.features import encode_sentences
from ner.tagger import Entity, Tagger
from tests.tiny_model import LABELS, write_model_folder


@pytest.fixture(scope="module")
def rule_dir(tmp_path_factory):
    # max_seq_length 16: a window labels at most 7 one-piece words once a
    # sentence needs several windows, so ordinary sentences cross seams.
    return write_model_folder(tmp_path_factory.mktemp("rule") / "model", max_seq_length=16)


@pytest.fixture(scope="module")
def tagger(rule_dir):
    return Tagger.load(rule_dir)


@pytest.fixture(scope="module")
def cased_tagger(tmp_path_factory):
    folder = write_model_folder(tmp_path_factory.mktemp("cased") / "model", do_lower_case=False)
    return Tagger.load(folder)


@pytest.fixture(scope="module")
def random_tagger(tmp_path_factory):
    folder = write_model_folder(tmp_path_factory.mktemp("random") / "model", rules=None,
                                max_seq_length=16, document_context=True, seed=3)
    return Tagger.load(folder)


def _check_entities(text: str, entities: list[Entity]) -> None:
    """Invariants every result must satisfy."""
    previous_end = 0
    for e in entities:
        assert isinstance(e, Entity)
        assert e.label in {"PER", "LOC", "ORG"}
        assert 0 <= previous_end <= e.start < e.end <= len(text)
        assert e.text == text[e.start:e.end]
        assert e.text == e.text.strip()
        assert unicodedata.category(e.text[0])[0] != "C"
        assert unicodedata.category(e.text[-1])[0] != "C"
        assert 0.0 <= e.score <= 1.0
        previous_end = e.end


def _expected(text: str, spans: list[tuple[str, str]]) -> list[tuple[str, int, int, str]]:
    """(label, start, end, text) from (label, entity text), found left to right."""
    out, position = [], 0
    for label, surface in spans:
        start = text.index(surface, position)
        out.append((label, start, start + len(surface), surface))
        position = start + len(surface)
    return out


def _valid_iob2(tags: list[str]) -> bool:
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def test_entities_of_plain_text(tagger):
    text = "John Smith lives in Paris."
    entities = tagger.tag(text)
    assert [(e.label, e.start, e.end, e.text) for e in entities] == [
        ("PER", 0, 10, "John Smith"), ("LOC", 20, 25, "Paris")]
    _check_entities(text, entities)


OFFSET_CASES = {
    "precomposed accent": ("Zo\u00eb lives in Paris", [("PER", "Zo\u00eb"), ("LOC", "Paris")]),
    "combining accent": ("Zoe\u0308 lives in Paris", [("PER", "Zoe\u0308"), ("LOC", "Paris")]),
    "stacked combining marks before": ("e\u0301\u0301\u0301 b John Smith",
                                       [("PER", "John Smith")]),
    "emoji and ZWJ sequence": ("\U0001F600\U0001F600 John Smith \U0001F468\u200d\U0001F469 "
                               "in Paris",
                               [("PER", "John Smith"), ("LOC", "Paris")]),
    "astral letters": ("\U0001D400\U0001D401 john smith \U00020000 paris",
                       [("PER", "john smith"), ("LOC", "paris")]),
    "CJK": ("\u6771\u4eac\u306e John Smith\u3001Paris\u3002",
            [("PER", "John Smith"), ("LOC", "Paris")]),
    "right to left": ("\u05e9\u05dc\u05d5\u05dd John Smith \u0645\u0631\u062d\u0628\u0627 Paris",
                      [("PER", "John Smith"), ("LOC", "Paris")]),
    "bidi marks": ("\u202bJohn Smith\u200f \u200eParis\u202c",
                   [("PER", "John Smith"), ("LOC", "Paris")]),
    "tabs and newlines": ("\tJohn\tSmith\n\n  Paris\r\n",
                          [("PER", "John\tSmith"), ("LOC", "Paris")]),
    "zero-width at edges": ("\u200bJohn Smith\u200b in \ufeffParis\u2060.",
                            [("PER", "John Smith"), ("LOC", "Paris")]),
    "zero-width inside": ("John\u200b Smith", [("PER", "John\u200b Smith")]),
    "word of zero-width characters only": ("John \u200b\u200d Smith",
                                           [("PER", "John \u200b\u200d Smith")]),
    "control characters": ("\x00John Smith\x07 in Paris\x1f \x0bacme corp\x85",
                           [("PER", "John Smith"), ("LOC", "Paris"), ("ORG", "acme corp")]),
    "upper case": ("JOHN SMITH IN NEW YORK", [("PER", "JOHN SMITH"), ("LOC", "NEW YORK")]),
    "lower-casing changes length": ("\u0130stanbul and ZO\u00cb", [("LOC", "\u0130stanbul"),
                                                                   ("PER", "ZO\u00cb")]),
    "punctuation around": ("(John Smith), 'Paris'.", [("PER", "John Smith"), ("LOC", "Paris")]),
    "lone surrogates": ("\ud800 John Smith \udfff Paris",
                        [("PER", "John Smith"), ("LOC", "Paris")]),
    # Deleted by the tokenizer like control characters, so trimmed like them.
    "replacement character and lone surrogate at edges": (
        "\udcffJohn Smith visited Paris\ufffd today", [("PER", "John Smith"), ("LOC", "Paris")]),
    "no-break and ideographic spaces": ("John\u00a0Smith\u3000Paris",
                                        [("PER", "John\u00a0Smith"), ("LOC", "Paris")]),
}


@pytest.mark.parametrize("text, spans", OFFSET_CASES.values(), ids=OFFSET_CASES.keys())
def test_offsets_are_exact(tagger, text, spans):
    entities = tagger.tag(text)
    _check_entities(text, entities)
    assert [(e.label, e.start, e.end, e.text) for e in entities] == _expected(text, spans)


def test_casing_comes_from_the_model_config(tagger, cased_tagger):
    # The vocabulary holds only lower-case words: a cased model reads "John"
    # as [UNK], an uncased one lower-cases it first.
    assert tagger.config.do_lower_case and not cased_tagger.config.do_lower_case
    assert [e.text for e in tagger.tag("John Smith")] == ["John Smith"]
    assert cased_tagger.tag("John Smith") == []
    assert [(e.label, e.text) for e in cased_tagger.tag("a john smith")] == [("PER", "john smith")]
    # Accents are stripped only by the uncased model.
    assert [e.text for e in tagger.tag("Zo\u00eb")] == ["Zo\u00eb"]
    assert cased_tagger.tag("zo\u00eb") == []


@pytest.mark.parametrize("text", ["", " ", "\n\t\r\n", "\u00a0\u3000\u2028", "\u200b\u200d",
                                  "\x00\x07", "\u0301"])
def test_empty_and_blank_text(tagger, text):
    assert tagger.tag(text) == []
    assert tagger.split_sentences(text) == []


def test_sentence_splitting(tagger):
    sentences = ["John Smith lives in Paris.", "He is big!", "Is he?",
                 "Dr. smith is in the U.S. Army.", "x", "acme corp. and more"]
    text = ("John Smith lives in Paris. He is big! Is he?\n Dr. smith is in the U.S. Army."
            "\n\nx\r\n \nacme corp. and more")
    spans = tagger.split_sentences(text)
    assert [text[s:e] for s, e in spans] == sentences
    # Unicode's separators: a paragraph separator is a blank line, a line
    # separator a line break (two make a blank line).
    text = "para one\u2029para two\u2028still two\u2028\u2028three \u00e9\u2029\u2029four"
    assert [text[s:e] for s, e in tagger.split_sentences(text)] == [
        "para one", "para two\u2028still two", "three \u00e9", "four"]
    # A single line break ends a sentence after a final word, or after a line
    # under 60% of the text's longest; hard-wrapped lines are about equal, and
    # their breaks are spaces.
    text = ("SOCCER - LATE WIN\nAL-AIN 1996-12-06\nJapan began the defence of their title"
            " with a win\nagainst Syria in a Group C championship match\nand it ended.\nthe next")
    assert [text[s:e] for s, e in tagger.split_sentences(text)] == [
        "SOCCER - LATE WIN", "AL-AIN 1996-12-06",
        "Japan began the defence of their title with a win\nagainst Syria in a Group C "
        "championship match\nand it ended.", "the next"]
    text = "He met Angela\nMerkel in Paris on\nTuesday."
    assert [text[s:e] for s, e in tagger.split_sentences(text)] == [text]
    # An initial's, a title's and a list number's period end no sentence;
    # an abbreviation's before a capital does.
    text = "1. J. Smith ( U.S. ) 9.5\n2. Dr. Jones of Acme Inc. He won. 3. Zoe"
    assert [text[s:e] for s, e in tagger.split_sentences(text)] == [
        "1. J. Smith ( U.S. ) 9.5\n2. Dr. Jones of Acme Inc.", "He won. 3.", "Zoe"]


def test_an_entity_keeps_the_period_its_word_keeps(tmp_path):
    # The rule model, with "j" B-PER and "s" I-PER: the initials' periods
    # are inside the entities; so is an abbreviation's, unless it may end
    # the sentence (before a capital).
    from tests.tiny_model import RULES, VOCAB

    tagger = Tagger.load(write_model_folder(tmp_path / "model", vocab=(*VOCAB, "j", "s"),
                                            rules={**RULES, "j": "B-PER", "s": "I-PER"}))
    found = tagger.tag("J. Smith of Acme Corp., John S. Smith and Acme Corp. Then J.")
    assert [(e.label, e.text) for e in found] == [
        ("PER", "J. Smith"), ("ORG", "Acme Corp."), ("PER", "John S. Smith"),
        ("ORG", "Acme Corp"), ("PER", "J.")]


def test_sentence_start_constrains_decoding(tagger):
    # "smith" favours I-PER, which cannot start a sentence: after the blank
    # line it starts a new sentence, so it cannot continue "john"'s entity.
    one = tagger.tag("a john smith")
    two = tagger.tag("a john\n\nsmith")
    assert [e.text for e in one] == ["john smith"]
    assert two[0].text == "john" and all("\n" not in e.text for e in two)


def _seam_sentence(tagger, entity: list[str]) -> tuple[list[str], int]:
    """Words putting `entity` across the first window seam; returns (words, seam)."""
    words = ["x"] * 40
    budget = tagger.config.max_seq_length - 2
    ids = tagger.tokenizer.tokenize_words([words]).to_list()[0]
    windows, _ = features.make_windows([ids], tagger.config.max_seq_length,
                                       tagger.tokenizer.cls_id, tagger.tokenizer.sep_id)
    seam = windows[1].first_word
    assert len(windows) > 2 and 0 < seam < budget
    first = seam - 1
    words[first:first + len(entity)] = entity
    return words, seam


@pytest.mark.parametrize("entity, label", [
    (["John", "Smith"], "PER"),
    (["Acme"] + ["Corp"] * 12, "ORG"),  # crosses two seams
])
def test_entity_on_a_window_seam(tagger, entity, label):
    words, seam = _seam_sentence(tagger, entity)
    # The seam really lies inside the entity once the entity words are in.
    ids = tagger.tokenizer.tokenize_words([words]).to_list()[0]
    windows, stats = features.make_windows([ids], tagger.config.max_seq_length,
                                           tagger.tokenizer.cls_id, tagger.tokenizer.sep_id)
    starts = {w.first_word for w in windows}
    assert seam in starts and stats.split_sentences == 1
    text = " ".join(words)
    entities = tagger.tag(text)
    _check_entities(text, entities)
    assert [(e.label, e.text) for e in entities] == [(label, " ".join(entity))]
    labels = tagger.tag_tokens([words])[0]
    expected = [f"B-{label}"] + [f"I-{label}"] * (len(entity) - 1)
    assert labels[seam - 1:seam - 1 + len(entity)] == expected
    assert labels.count("O") == len(words) - len(entity)


def test_every_word_gets_one_label_in_long_input(random_tagger):
    rng = np.random.default_rng(0)
    vocabulary = ["john", "smith", "paris", "in", "x", "Zo\u00eb", "\u6771", "unknownword",
                  "", " ", "\u200b", "\u0301", "acmeacmeacme", "."]
    sentences = [[vocabulary[i] for i in rng.integers(0, len(vocabulary), n)]
                 for n in (1500, 0, 3, 700)]
    labels = random_tagger.tag_tokens(sentences)
    assert [len(x) for x in labels] == [len(s) for s in sentences]
    assert all(label in LABELS for x in labels for label in x)
    assert all(_valid_iob2(x) for x in labels)
    assert any(label != "O" for x in labels for label in x)


def test_long_text_offsets(random_tagger):
    rng = np.random.default_rng(1)
    pieces = ["John", "smith", "Paris", "\u00e9t\u00e9", "\U0001F600", "\u6771\u4eac", "in", ".",
              "New", "\u200b", "\n", "\t"]
    text = " ".join(pieces[i] for i in rng.integers(0, len(pieces), 3000))
    entities = random_tagger.tag(text)
    assert entities
    _check_entities(text, entities)


def test_tag_batch_equals_tag(random_tagger):
    texts = [
        "John Smith lives in Paris. He met Zo\u00eb in New York! Acme corp is big.",
        "",
        " ".join(["john smith x paris in the"] * 40) + ". The end.",
        "\u6771\u4eac \U0001F600 john\n\nparis\u200b.",
        "   ",
        "Smith.",
    ]
    batch = random_tagger.tag_batch(texts)
    small_batches = random_tagger.tag_batch(texts, batch_size=3)
    singles = [random_tagger.tag(t) for t in texts]
    assert sum(map(len, singles)) > 10
    for text, a, b, c in zip(texts, batch, small_batches, singles):
        _check_entities(text, a)
        key = lambda es: [(e.label, e.start, e.end, e.text) for e in es]
        assert key(a) == key(b) == key(c)
        # Scores agree up to float rounding: a one-text call normalises its few
        # rows by written-out ops, a larger batch by oneDNN's fused LayerNorm
        # (`ner.bert.FUSED_LAYER_NORM_MIN_ROWS`), which round differently.
        np.testing.assert_allclose([e.score for e in a], [e.score for e in c], atol=5e-4)
        np.testing.assert_allclose([e.score for e in b], [e.score for e in c], atol=5e-4)
    assert random_tagger.tag_batch([]) == []


def test_a_bioes_models_entities_are_the_chunks_of_its_labels(tmp_path):
    """The pipeline chunks a BIOES model's tags in the graph as `ner.schemes` does."""
    from ner import schemes

    labels = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG") for p in "BIES"]
    tagger = Tagger.load(write_model_folder(tmp_path / "model", labels=labels, rules=None,
                                            max_seq_length=16, scheme="BIOES", seed=6))
    rng = np.random.default_rng(4)
    vocabulary = ["john", "smith", "paris", "in", "x", "york", "corp", "the"]
    sentences = [[vocabulary[i] for i in rng.integers(0, len(vocabulary), n)]
                 for n in (1, 2, 9, 30, 80, 200)]
    bioes = tagger.tag_tokens(sentences)
    assert all(schemes.invalid_transitions(tags, "BIOES") == [] for tags in bioes)
    assert {tag[0] for tags in bioes for tag in tags} == set("OBIES")  # every prefix occurs
    # Entities of one type side by side, told apart only by E-/S- closing and
    # B-/S- opening ("S-PER S-PER" is two).
    assert {a[0] + b[0] for tags in bioes for a, b in zip(tags, tags[1:])
            if a[0] in "ES" and b[0] in "BS" and a[2:] == b[2:]} >= {"SS", "ES", "SB"}
    assert tagger.tag_tokens(sentences, scheme="bio") == [
        schemes.convert(tags, "BIOES", "IOB2") for tags in bioes]
    # One sentence per text, words one space apart: word i starts at starts[i].
    for words, tags in zip(sentences, tagger.tag_batch([" ".join(s) for s in sentences])):
        starts = np.cumsum([0] + [len(w) + 1 for w in words])
        assert [(e.label, e.start, e.end) for e in tags] == [
            (label, starts[a], starts[b] - 1)
            for label, a, b in schemes.chunks(bioes[sentences.index(words)])]


def test_score_is_the_crf_probability_of_the_span(tagger):
    # Brute force over all 7^3 taggings of a 3-word sentence.
    text = "john smith x"
    entities = tagger.tag(text)
    assert [(e.label, e.text) for e in entities] == [("PER", "john smith")]
    encoded = encode_sentences(tagger.tokenizer, [["john", "smith", "x"]],
                               tagger.config.max_seq_length)
    (window,) = encoded.windows  # three words fit one window
    potentials = tagger.model.potentials(
        window.input_ids[None], np.ones_like(window.input_ids)[None], window.word_starts[None],
        np.array([3], np.int32)).numpy()[0]  # [3, K]
    transitions, start, end = (t.numpy() for t in tagger.model.crf.constrained_parameters())
    total, inside = 0.0, 0.0
    want = (LABELS.index("B-PER"), LABELS.index("I-PER"))
    for path in itertools.product(range(len(LABELS)), repeat=3):
        score = start[path[0]] + end[path[-1]] + sum(potentials[i, t] for i, t in enumerate(path))
        score += sum(transitions[a, b] for a, b in zip(path, path[1:]))
        total += np.exp(score)
        if path[:2] == want:
            inside += np.exp(score)
    assert entities[0].score == pytest.approx(inside / total, rel=1e-4)
    assert 0.5 < entities[0].score < 0.999  # informative, not saturated


def test_decoding_is_constrained(tagger, random_tagger):
    # "smith" alone favours I-PER, which may not start a sentence or follow O.
    labels = tagger.tag_tokens([["smith"], ["x", "smith", "smith"], ["york", "john", "york"]])
    assert all(_valid_iob2(x) for x in labels)
    assert labels[0] != ["I-PER"]
    words = [["john", "smith", "x", "york", "corp", "paris", "smith"] * 5] * 20
    assert all(_valid_iob2(x) for x in random_tagger.tag_tokens(words))


def test_tag_tokens_labels(tagger):
    sentences = [["John", "Smith", "lives", "in", "New", "York", "."], [], ["Acme", "Corp"]]
    assert tagger.tag_tokens(sentences) == [
        ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"], [], ["B-ORG", "I-ORG"]]
    assert tagger.tag_tokens([]) == []
    assert tagger.tag_tokens([[], []]) == [[], []]


def test_bad_arguments(tagger):
    with pytest.raises(TypeError, match="str"):
        tagger.tag(b"John")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tagger.tag_batch(["John", None])
    with pytest.raises(TypeError, match="single string"):
        tagger.tag_tokens("John Smith")
    with pytest.raises(ValueError, match="batch_size"):
        tagger.tag_batch(["John"], batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got True"):
        tagger.tag_batch(["John"], batch_size=True)
    # Documents are integer indices: not truncated floats, not string ids.
    for documents, shown in (([0.5, 1.7], "0.5"), (["d1", "d2"], "'d1'")):
        with pytest.raises(TypeError, match=rf"documents\[0\] must be an int .*got {shown}"):
            tagger.tag_tokens([["john"], ["paris"]], documents=documents)


def test_numpy_and_tensor_inputs_are_taken(tagger):
    want = [[(e.label, e.start, e.end, e.text) for e in ents]
            for ents in tagger.tag_batch(["john smith in paris", "acme corp"])]

    def plain(found):
        return [[(e.label, e.start, e.end, e.text) for e in ents] for ents in found]
    assert plain(tagger.tag_batch(["john smith in paris", "acme corp"],
                                  batch_size=np.int64(4))) == want
    assert plain(tagger.tag_batch(tf.constant(["john smith in paris", "acme corp"]))) == want
    words = [["john", "smith", "in", "paris"]]
    assert tagger.tag_tokens(np.array(words)) == tagger.tag_tokens(words)
    assert tagger.tag_tokens(words, documents=np.array([0])) == tagger.tag_tokens(words)


def test_load_accepts_training_output_folder(rule_dir, tagger, tmp_path):
    # (Tagging through such a folder is covered by the report test below.)
    run = tmp_path / "run"
    shutil.copytree(rule_dir, run / "model")
    loaded = ner.Tagger.load(run)
    assert loaded.config == tagger.config
    for a, b in zip(loaded.model.variables, tagger.model.variables):
        assert a.name == b.name and np.array_equal(a.numpy(), b.numpy())


def test_load_errors(rule_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        Tagger.load(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        Tagger.load(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="tagger_config.json"):
        Tagger.load(tmp_path / "empty")
    (tmp_path / "training" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="after the first epoch"):
        Tagger.load(tmp_path / "training")
    broken = tmp_path / "broken"
    shutil.copytree(rule_dir, broken)
    (broken / "tagger_config.json").write_text('{"labels": ["O"],\n  oops')
    with pytest.raises(ValueError, match=r"tagger_config.json:2"):
        Tagger.load(broken)
    no_vocab = tmp_path / "no_vocab"
    shutil.copytree(rule_dir, no_vocab)
    (no_vocab / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="vocab"):
        Tagger.load(no_vocab)
    bad_label = tmp_path / "bad_label"
    shutil.copytree(rule_dir, bad_label)
    config = json.loads((bad_label / "tagger_config.json").read_text())
    config["labels"][1] = "PER"
    (bad_label / "tagger_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="PER"):
        Tagger.load(bad_label)


def test_damaged_model_files_are_errors_naming_them(rule_dir, tmp_path):
    """A cut-down or foreign vocab.txt, and a damaged or incomplete checkpoint."""
    vocab_size = json.loads((rule_dir / "tagger_config.json").read_text())["encoder"][
        "vocab_size"]
    lines = (rule_dir / "vocab.txt").read_text().splitlines()
    assert len(lines) == vocab_size  # as training writes it
    for name, vocab, message in (("short", lines[:vocab_size // 2 - 1], "far fewer than"),
                                 ("long", lines + ["extra1", "extra2"], "more than")):
        folder = tmp_path / name
        shutil.copytree(rule_dir, folder)
        (folder / "vocab.txt").write_text("".join(v + "\n" for v in vocab))
        with pytest.raises(ValueError, match=rf"{re.escape(str(folder / 'vocab.txt'))}: "
                                             rf"[\d,]+ wordpieces, {message}"):
            Tagger.load(folder)
    index = "model.ckpt.index"
    data = next(p.name for p in rule_dir.iterdir() if p.name.startswith("model.ckpt.data"))
    for name, damage, error, message in (
            ("cut_index", lambda f: (f / index).write_bytes((f / index).read_bytes()[:40]),
             ValueError, "not a readable TensorFlow checkpoint"),
            ("cut_data", lambda f: (f / data).write_bytes((f / data).read_bytes()[:100]),
             ValueError, "not a readable TensorFlow checkpoint"),
            ("no_data", lambda f: (f / data).unlink(), FileNotFoundError,
             "a file of the checkpoint is missing")):
        folder = tmp_path / name
        shutil.copytree(rule_dir, folder)
        damage(folder)
        with pytest.raises(error, match=rf"{re.escape(str(folder / 'model.ckpt'))}\.index and "
                                        rf".*\.data-\*: {message}"):
            Tagger.load(folder)


def test_evaluation_report_tags_a_conll_file(rule_dir, tmp_path):
    from evaluation.report import run

    # Gold: two PER, two LOC, one ORG. The rule model finds all but "Berlin"
    # (not in its vocabulary), and tags nothing else.
    conll = tmp_path / "gold.txt"
    conll.write_text(
        "-DOCSTART- -X- -X- O\n\n"
        "John NNP B-NP B-PER\nSmith NNP I-NP I-PER\nlives VBZ B-VP O\nin IN B-PP O\n"
        "Paris NNP B-NP B-LOC\n. . O O\n\n"
        "Acme NNP B-NP B-ORG\nCorp NNP I-NP I-ORG\nmet VBD B-VP O\nZoe NNP B-NP B-PER\n"
        "in IN B-PP O\nBerlin NNP B-NP B-LOC\n\n",
        encoding="utf-8")
    # A training output folder (holding model/), as `python -m ner.train` writes.
    training_output = tmp_path / "run"
    shutil.copytree(rule_dir, training_output / "model")
    result = run(model_dir=str(training_output), data=str(conll),
                 predictions=str(tmp_path / "pred.txt"))
    assert result["missing_predictions"]["count"] == 0
    assert result["invalid_transitions"]["count"] == 0
    micro = result["default"]["micro avg"]
    assert micro["precision"] == pytest.approx(1.0)
    assert micro["recall"] == pytest.approx(4 / 5)
    assert result["default"]["types"]["LOC"]["recall"] == pytest.approx(1 / 2)
    assert result["errors"]["counts"]["missed"] == 1
    lines = (tmp_path / "pred.txt").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["John B-PER B-PER", "Smith I-PER I-PER"]
