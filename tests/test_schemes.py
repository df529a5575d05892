"""Tests for ner/schemes.py: truth tables written by hand from the scheme
definitions (IOB1: `B-` only between two same-type chunks; IOB2: every chunk
starts with `B-`; BIOES: `S-` for one-token chunks, `E-` for the last token)
and from conlleval's chunk rules, plus seeded round trips and a differential
test against seqeval's chunking."""

import dataclasses
import random
import subprocess
import sys

import pytest
from seqeval.metrics.sequence_labeling import get_entities as seqeval_get_entities

from ner.schemes import (LabelTable, TagError, allowed_transitions, chunks, convert, detect_scheme,
                         invalid_transitions, label_table, parse_tag, parse_tags, scheme_name,
                         spell)

TYPES = ("PER", "LOC", "ORG")


def _random_tags(rng, prefixes, length):
    return ["O" if rng.random() < 0.4 else f"{rng.choice(prefixes)}-{rng.choice(TYPES)}"
            for _ in range(length)]


def test_no_tensorflow_at_import(repo_root):
    # The data reader, the metrics and the report CLI import this module;
    # none of them may pay for TensorFlow's start-up.
    code = ("import sys, ner.schemes, ner.data, evaluation.report; "
            "print(sorted(m for m in ('tensorflow', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "tensorflow" not in done.stdout  # numpy comes with seqeval, and is fine


# --- names and parsing -----------------------------------------------------------------

@pytest.mark.parametrize("name, canonical", [
    ("IOB1", "IOB1"), ("iob1", "IOB1"), ("IOB2", "IOB2"), ("BIO", "IOB2"), ("bio", "IOB2"),
    ("BIOES", "BIOES"), ("IOBES", "BIOES"), ("iobes", "BIOES"),
])
def test_scheme_name(name, canonical):
    assert scheme_name(name) == canonical


@pytest.mark.parametrize("name", ["BILOU", "IOE2", "auto", ""])
def test_unknown_scheme(name):
    with pytest.raises(ValueError, match=f"unknown tag scheme {name!r}"):
        scheme_name(name)
    with pytest.raises(ValueError, match="unknown tag scheme"):
        convert(["O"], name, "IOB2")


@pytest.mark.parametrize("tag, expected", [
    ("O", ("O", None)),
    ("B-PER", ("B", "PER")),
    ("I-LOC", ("I", "LOC")),
    ("E-ORG", ("E", "ORG")),
    ("S-LOC", ("S", "LOC")),
    # The type is everything after the first hyphen, as in conlleval.
    ("B-ORG-X", ("B", "ORG-X")),
])
def test_parse_tag(tag, expected):
    assert parse_tag(tag) == expected


@pytest.mark.parametrize("tag", ["PER", "B-", "X-PER", "", "o", "B_PER", "b-PER", "-PER", "O-PER"])
def test_malformed_tags_are_rejected(tag):
    with pytest.raises(TagError, match=f"malformed tag {tag!r}"):
        parse_tag(tag)
    with pytest.raises(TagError, match="position 1: malformed tag") as caught:
        chunks(["O", tag])
    assert caught.value.index == 1


def test_bilou_tags_are_refused_with_their_bioes_spelling():
    for tag in ("U-ORG", "L-PER"):
        with pytest.raises(TagError, match="BILOU is not supported: write its L- as E- and U- "
                                           "as S-"):
            parse_tag(tag)


@pytest.mark.parametrize("tags, scheme, message", [
    (["B-PER", "E-PER"], "IOB2", "position 1: tag 'E-PER' is not allowed in scheme IOB2"),
    (["S-PER"], "IOB1", "position 0: tag 'S-PER' is not allowed in scheme IOB1"),
    (["O", "B-"], "BIOES", "position 1: malformed tag 'B-'"),
])
def test_parse_tags_checks_the_scheme_prefixes(tags, scheme, message):
    with pytest.raises(TagError, match=message):
        parse_tags(tags, scheme)


def test_parse_tags_without_scheme_accepts_every_prefix():
    assert parse_tags(["O", "B-A", "I-A", "E-A", "S-B"]) == [
        ("O", None), ("B", "A"), ("I", "A"), ("E", "A"), ("S", "B")]


# --- detection -------------------------------------------------------------------------

@pytest.mark.parametrize("tag_sequences, predicted, expected", [
    ([["B-PER", "I-PER", "O"]], [], "IOB2"),
    ([["I-PER", "I-PER", "O"]], [], "IOB1"),
    ([["I-PER", "B-PER"]], [], "IOB1"),
    ([["O", "I-LOC"], ["I-ORG", "B-ORG"]], [], "IOB1"),
    ([["I-PER", "I-PER", "B-PER", "O", "I-LOC"]], [], "IOB1"),
    # An orphan I- alongside a B- that starts a chunk is not IOB1.
    ([["I-PER"], ["B-PER", "O"]], [], "IOB2"),
    ([["I-PER", "O", "B-LOC"]], [], "IOB2"),
    ([["B-LOC", "I-PER"]], [], "IOB2"),
    ([["O", "O"]], [], "IOB2"),
    ([], [], "IOB2"),
    ([["B-PER", "E-PER"]], [], "BIOES"),
    ([["O"], ["S-LOC"]], [], "BIOES"),
    ((t for t in [["I-MISC"]]), [], "IOB1"),  # any iterable
    # Predictions count only for BIOES: their orphan I- never make it IOB1.
    ([["O", "O"]], [["I-PER"]], "IOB2"),
    ([["B-PER", "I-PER"]], [["S-PER", "O"]], "BIOES"),
])
def test_detect_scheme(tag_sequences, predicted, expected):
    assert detect_scheme(tag_sequences, predicted=predicted) == expected


@pytest.mark.parametrize("tag_sequences, expected", [
    ([["O", "O"]], "IOB1"), ([], "IOB1"), ([["I-PER", "I-PER", "O"]], "IOB1"),
    ([["O", "B-PER"]], "IOB2"), ([["I-PER", "B-PER"]], "IOB1"),
])
def test_detect_scheme_says_undecided_when_no_chunk_start_tells(tag_sequences, expected):
    assert detect_scheme(tag_sequences, undecided="IOB1") == expected


def test_detect_scheme_rejects_malformed_tag():
    with pytest.raises(TagError, match="sentence 1, position 0: malformed tag 'B_PER'"):
        detect_scheme([["O"], ["B_PER"]])
    with pytest.raises(TagError, match="predicted sentence 0, position 1: malformed tag 'PER'"):
        detect_scheme([["O", "O"]], predicted=[["O", "PER"]])


# --- chunking: conlleval's lenient rules, end exclusive --------------------------------

@pytest.mark.parametrize("tags, expected", [
    ([], []),
    (["O", "O"], []),
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    (["O", "B-MISC"], [("MISC", 1, 2)]),
    # Orphan I- tags open an entity, at the start and after O.
    (["I-PER"], [("PER", 0, 1)]),
    (["O", "I-PER", "I-PER"], [("PER", 1, 3)]),
    # A type switch closes the entity, with or without B-.
    (["I-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
    (["B-PER", "B-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    (["B-PER", "I-PER", "B-PER"], [("PER", 0, 2), ("PER", 2, 3)]),
    # IOB1: entities open with I-; B- splits adjacent entities of one type.
    (["I-PER", "I-PER", "B-PER", "I-PER", "O", "I-LOC"],
     [("PER", 0, 2), ("PER", 2, 4), ("LOC", 5, 6)]),
    # BIOES, well formed and not.
    (["B-PER", "E-PER", "S-LOC", "S-LOC", "B-ORG", "I-ORG", "E-ORG"],
     [("PER", 0, 2), ("LOC", 2, 3), ("LOC", 3, 4), ("ORG", 4, 7)]),
    (["B-PER", "I-PER", "O"], [("PER", 0, 2)]),
    (["E-PER", "E-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    (["S-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
    # The type is everything after the first hyphen.
    (["B-ORG-X", "I-ORG-X", "I-ORG"], [("ORG-X", 0, 2), ("ORG", 2, 3)]),
])
def test_chunks_truth_table(tags, expected):
    assert chunks(tags) == expected


def test_chunks_equal_seqeval_on_random_sequences():
    rng = random.Random(20240611)
    for _ in range(400):
        tags = _random_tags(rng, "BIES", rng.randint(0, 10))
        expected = [(t, start, end + 1) for t, start, end in seqeval_get_entities(tags)]
        assert chunks(tags) == expected, tags


# --- spelling and conversion -----------------------------------------------------------

SPANS = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 5, 8)]


@pytest.mark.parametrize("scheme, expected", [
    ("IOB2", ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG"]),
    ("IOB1", ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG"]),
    ("BIOES", ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG"]),
])
def test_spell(scheme, expected):
    assert spell(SPANS, 8, scheme) == expected
    assert chunks(expected) == SPANS


@pytest.mark.parametrize("tags, source, target, expected", [
    # IOB1 -> IOB2: an I- that starts a chunk becomes B-.
    (["I-PER", "I-PER", "O"], "IOB1", "IOB2", ["B-PER", "I-PER", "O"]),
    (["I-PER", "B-PER", "O"], "IOB1", "IOB2", ["B-PER", "B-PER", "O"]),
    (["I-LOC", "I-PER"], "IOB1", "IOB2", ["B-LOC", "B-PER"]),
    (["O", "I-ORG", "I-ORG", "B-ORG", "I-ORG"], "IOB1", "IOB2",
     ["O", "B-ORG", "I-ORG", "B-ORG", "I-ORG"]),
    (["B-MISC", "O"], "IOB1", "IOB2", ["B-MISC", "O"]),  # B- after O: tolerated, a chunk start
    (["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "IOB1", "IOB2",
     ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]),
    (["O", "O"], "IOB1", "IOB2", ["O", "O"]),
    ([], "IOB1", "IOB2", []),
    # IOB2 -> IOB1: B- survives only right after a chunk of the same type.
    (["B-PER", "I-PER", "O"], "IOB2", "IOB1", ["I-PER", "I-PER", "O"]),
    (["B-PER", "B-PER"], "IOB2", "IOB1", ["I-PER", "B-PER"]),
    (["B-LOC", "B-PER"], "IOB2", "IOB1", ["I-LOC", "I-PER"]),
    (["B-ORG", "I-ORG", "B-ORG", "O", "B-ORG"], "IOB2", "IOB1",
     ["I-ORG", "I-ORG", "B-ORG", "O", "I-ORG"]),
    # IOB2 -> BIOES.
    (["B-PER"], "IOB2", "BIOES", ["S-PER"]),
    (["B-PER", "I-PER"], "IOB2", "BIOES", ["B-PER", "E-PER"]),
    (["B-PER", "I-PER", "I-PER", "O"], "IOB2", "BIOES", ["B-PER", "I-PER", "E-PER", "O"]),
    (["B-PER", "B-PER"], "IOB2", "BIOES", ["S-PER", "S-PER"]),
    (["B-LOC", "I-LOC", "B-LOC"], "IOB2", "BIOES", ["B-LOC", "E-LOC", "S-LOC"]),
    (["B-ORG", "B-MISC", "I-MISC"], "IOB2", "BIOES", ["S-ORG", "B-MISC", "E-MISC"]),
    # BIOES -> IOB2.
    (["S-PER", "O"], "BIOES", "IOB2", ["B-PER", "O"]),
    (["B-PER", "I-PER", "E-PER"], "BIOES", "IOB2", ["B-PER", "I-PER", "I-PER"]),
    (["S-LOC", "S-LOC"], "BIOES", "IOB2", ["B-LOC", "B-LOC"]),
    (["O", "B-ORG", "E-ORG", "S-PER"], "BIOES", "IOB2", ["O", "B-ORG", "I-ORG", "B-PER"]),
    (["B-PER", "E-PER", "S-LOC", "B-ORG", "I-ORG", "E-ORG"], "BIOES", "IOB2",
     ["B-PER", "I-PER", "B-LOC", "B-ORG", "I-ORG", "I-ORG"]),
    # Across, identity and aliases.
    (["I-PER", "I-PER", "B-PER", "O"], "IOB1", "BIOES", ["B-PER", "E-PER", "S-PER", "O"]),
    (["S-LOC", "S-LOC", "B-ORG", "E-ORG"], "BIOES", "IOB1", ["I-LOC", "B-LOC", "I-ORG", "I-ORG"]),
    (["B-PER", "I-PER", "O"], "IOB2", "IOB2", ["B-PER", "I-PER", "O"]),
    (["B-PER", "I-PER"], "BIO", "IOBES", ["B-PER", "E-PER"]),
    (["B-PER", "I-PER"], "bio", "iobes", ["B-PER", "E-PER"]),
])
def test_convert(tags, source, target, expected):
    assert convert(tags, source, target) == expected


@pytest.mark.parametrize("tags, source, fragment", [
    (["O", "B-"], "IOB2", "position 1: malformed tag 'B-'"),
    (["X-PER"], "IOB2", "position 0: malformed tag 'X-PER'"),
    (["b-PER"], "IOB1", "malformed tag 'b-PER'"),
    (["PER"], "BIOES", "malformed tag 'PER'"),
    (["S-PER"], "IOB2", "tag 'S-PER' is not allowed in scheme IOB2"),
    (["O", "I-PER"], "IOB2", "position 1: 'I-PER' after 'O' starts a chunk, which IOB2 forbids"),
    (["B-PER", "I-LOC"], "IOB2", "position 1: 'I-LOC' after 'B-PER'"),
    (["B-PER", "O"], "BIOES", "position 1: 'O' after 'B-PER': BIOES chunk 'B-PER' is not closed"),
    (["B-PER"], "BIOES", "position 0: sentence ends inside a chunk"),
    (["E-PER"], "BIOES", "position 0: 'E-PER' after 'O'"),
    (["B-PER", "E-LOC"], "BIOES", "position 1: 'E-LOC' after 'B-PER'"),
])
def test_convert_rejects(tags, source, fragment):
    with pytest.raises(TagError) as err:
        convert(tags, source, "IOB2")
    assert fragment in str(err.value)


@pytest.mark.parametrize("tags, source, expected", [
    # Not strict, IOB2 input stays as it is (orphans included) ...
    (["O", "I-PER", "I-PER"], "IOB2", ["O", "I-PER", "I-PER"]),
    # ... and ill-formed BIOES is read as conlleval reads it.
    (["B-PER", "O", "E-LOC", "I-LOC"], "BIOES", ["B-PER", "O", "B-LOC", "B-LOC"]),
    (["B-PER", "I-PER"], "BIOES", ["B-PER", "I-PER"]),
])
def test_convert_not_strict(tags, source, expected):
    assert convert(tags, source, "IOB2", strict=False) == expected


@pytest.mark.parametrize("scheme", ["IOB1", "IOB2", "BIOES"])
def test_round_trips_keep_the_chunks(scheme):
    rng = random.Random(11)
    for _ in range(300):
        iob2 = convert(_random_tags(rng, "BI", rng.randint(0, 10)), "IOB2", "IOB2", strict=False)
        iob2 = spell(chunks(iob2), len(iob2), "IOB2")  # legal IOB2
        there = convert(iob2, "IOB2", scheme)
        assert chunks(there) == chunks(iob2), (iob2, there)
        assert convert(there, scheme, "IOB2") == iob2, (iob2, there)
        assert detect_scheme([there]) in (scheme, "IOB2"), there  # IOB1 may look like IOB2


# --- allowed and invalid transitions ---------------------------------------------------

def test_allowed_transitions_iob2_table():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert allowed_transitions(labels, "IOB2") == {
        (None, "O"), (None, "B-PER"), (None, "B-LOC"),
        ("O", None), ("B-PER", None), ("I-PER", None), ("B-LOC", None), ("I-LOC", None),
        ("O", "O"), ("O", "B-PER"), ("O", "B-LOC"),
        ("B-PER", "O"), ("B-PER", "B-PER"), ("B-PER", "I-PER"), ("B-PER", "B-LOC"),
        ("I-PER", "O"), ("I-PER", "B-PER"), ("I-PER", "I-PER"), ("I-PER", "B-LOC"),
        ("B-LOC", "O"), ("B-LOC", "B-PER"), ("B-LOC", "B-LOC"), ("B-LOC", "I-LOC"),
        ("I-LOC", "O"), ("I-LOC", "B-PER"), ("I-LOC", "B-LOC"), ("I-LOC", "I-LOC"),
    }


def test_allowed_transitions_iob1_table():
    labels = ["O", "B-PER", "I-PER", "I-LOC"]
    assert allowed_transitions(labels, "IOB1") == {
        (None, "O"), (None, "I-PER"), (None, "I-LOC"),
        ("O", None), ("B-PER", None), ("I-PER", None), ("I-LOC", None),
        ("O", "O"), ("O", "I-PER"), ("O", "I-LOC"),
        ("B-PER", "O"), ("B-PER", "B-PER"), ("B-PER", "I-PER"), ("B-PER", "I-LOC"),
        ("I-PER", "O"), ("I-PER", "B-PER"), ("I-PER", "I-PER"), ("I-PER", "I-LOC"),
        ("I-LOC", "O"), ("I-LOC", "I-PER"), ("I-LOC", "I-LOC"),
    }


def test_allowed_transitions_bioes_table():
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC"]
    outside = {"O", "B-PER", "S-PER", "S-LOC"}
    closed = {"O", "E-PER", "S-PER", "S-LOC"}
    assert allowed_transitions(labels, "BIOES") == (
        {(None, to) for to in outside} | {(frm, None) for frm in closed}
        | {(frm, to) for frm in closed for to in outside}
        | {("B-PER", "I-PER"), ("B-PER", "E-PER"), ("I-PER", "I-PER"), ("I-PER", "E-PER")})


@pytest.mark.parametrize("labels, scheme, fragment", [
    (["O", "E-PER"], "IOB2", "position 1: tag 'E-PER' is not allowed in scheme IOB2"),
    (["O", "B-"], "IOB2", "position 1: malformed tag 'B-'"),
    (["O", "L-PER"], "BIOES", "position 1: malformed tag 'L-PER'"),
])
def test_allowed_transitions_names_the_bad_label(labels, scheme, fragment):
    with pytest.raises(TagError, match=fragment):
        allowed_transitions(labels, scheme)


@pytest.mark.parametrize("tags, scheme, expected", [
    (["O", "I-PER", "B-LOC", "I-LOC", "I-PER"], "IOB2", [1, 4]),
    (["I-PER"], "IOB2", [0]),
    (["B-PER", "I-PER", "B-PER", "O", "B-LOC"], "IOB1", [0, 4]),
    (["I-PER", "B-PER", "I-PER", "I-LOC"], "IOB1", []),
    # I-LOC after E-; S- while I-LOC is open; B-ORG never closed (reported at len = 5).
    (["B-PER", "E-PER", "I-LOC", "S-LOC", "B-ORG"], "BIOES", [2, 3, 5]),
    (["B-PER", "I-LOC", "E-LOC"], "BIOES", [1]),
    (["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"], "BIOES", []),
    ([], "BIOES", []),
])
def test_invalid_transitions_truth_table(tags, scheme, expected):
    assert invalid_transitions(tags, scheme) == expected


@pytest.mark.parametrize("scheme, prefixes", [("IOB1", "BI"), ("IOB2", "BI"), ("BIOES", "BIES")])
def test_invalid_transitions_agree_with_the_allowed_table(scheme, prefixes):
    labels = ["O", *(f"{p}-{t}" for p in prefixes for t in TYPES)]
    allowed = allowed_transitions(labels, scheme)
    rng = random.Random(3)
    for _ in range(300):
        tags = _random_tags(rng, prefixes, rng.randint(1, 8))
        path = [None, *tags, None]
        expected = [i for i in range(len(path) - 1) if (path[i], path[i + 1]) not in allowed]
        assert invalid_transitions(tags, scheme) == expected, tags


# --- the label table of a model --------------------------------------------------------

def test_label_table():
    table = label_table(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-PER", "S-MISC"])
    assert table == LabelTable(types=["PER", "LOC", "MISC"],
                               type_of=[-1, 0, 0, 1, 1, 0, 2],
                               opens=[False, True, False, True, False, False, True],
                               closes=[False, False, False, False, False, True, True])
    assert label_table([]) == LabelTable([], [], [], [])
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.types = []


@pytest.mark.parametrize("labels, message", [
    (["O", "PER"], "label 1 'PER': expected 'O' or '<B|I|E|S>-<TYPE>'"),
    (["B-"], "label 0 'B-': expected 'O' or '<B|I|E|S>-<TYPE>'"),
    (["O", "B-PER", "X-PER"], "label 2 'X-PER': expected 'O' or '<B|I|E|S>-<TYPE>'"),
])
def test_label_table_names_the_bad_label(labels, message):
    with pytest.raises(ValueError) as caught:
        label_table(labels)
    assert str(caught.value) == message
