"""Tests for ner/data.py: CoNLL reading and writing in every tag scheme,
prediction files, label lists.

Expected values are written by hand from the scheme definitions (IOB1: `B-`
only between two same-type chunks; IOB2: every chunk starts with `B-`; BIOES:
`S-` for one-token chunks, `E-` for the last token), or are the published
CoNLL-2003 statistics. The scheme rules themselves are tested in
tests/test_schemes.py.
"""

import io
import logging
import os
import time

import pytest

from ner.data import (
    ConllFormatError,
    Document,
    Sentence,
    count_docstart_lines,
    document_ids,
    entity_types,
    label_list,
    parse_conll,
    read_conll,
    read_predictions,
    sentences,
    write_conll,
    write_predictions,
)

# --------------------------------------------------------------------------
# The real CoNLL-2003 files
# --------------------------------------------------------------------------

# Published sizes of the English CoNLL-2003 splits (documents, sentences,
# tokens), e.g. in the issue and in Tjong Kim Sang & De Meulder (2003).
CONLL_SIZES = {
    "train": (946, 14041, 203621),
    "dev": (216, 3250, 51362),
    "test": (231, 3453, 46435),
}


@pytest.fixture(scope="module")
def conll(conll_dir):
    """The three splits, read once for the whole module: {split: (path, docs)}."""
    return {split: (conll_dir / f"{split}.txt", read_conll(conll_dir / f"{split}.txt")) for split in CONLL_SIZES}


@pytest.mark.parametrize("split", sorted(CONLL_SIZES))
def test_conll2003_sizes(conll, split):
    _, docs = conll[split]
    n_docs, n_sents, n_tokens = CONLL_SIZES[split]
    assert len(docs) == n_docs
    assert len(sentences(docs)) == n_sents
    assert sum(len(s) for s in sentences(docs)) == n_tokens
    assert all(d.docstart == "-DOCSTART- -X- -X- O" for d in docs)
    assert all(len(d.sentences) > 0 for d in docs)
    assert entity_types(docs) == ["LOC", "MISC", "ORG", "PER"]


@pytest.mark.parametrize("split", sorted(CONLL_SIZES))
def test_conll2003_round_trip_is_byte_exact(conll, split):
    path, docs = conll[split]
    buf = io.StringIO()
    write_conll(docs, buf)
    assert buf.getvalue().encode("utf-8") == path.read_bytes()


def test_conll2003_first_sentence(conll):
    # Lines 1-2 are the -DOCSTART- line and a blank line; the sentence is
    # "EU rejects German call to boycott British lamb ." from line 3.
    first = conll["train"][1][0].sentences[0]
    assert first.tokens == ("EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", ".")
    assert first.tags == ("B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O")
    assert first.columns[:2] == (("NNP", "B-NP"), ("VBZ", "B-VP"))
    assert first.line == 3


def test_conll2003_train_reads_fast(conll_dir):
    # CPU time rather than wall time: the test machines are shared. This
    # thread's only: the process's counts every thread of the worker,
    # TensorFlow's pools included.
    start = time.thread_time()
    read_conll(conll_dir / "train.txt")
    assert time.thread_time() - start < 2.0


# --------------------------------------------------------------------------
# The checked-in sample
# --------------------------------------------------------------------------


def test_sample_file(repo_root):
    path = repo_root / "data" / "conll2003" / "sample.txt"
    docs = read_conll(path)
    assert len(docs) == 3
    assert all(d.docstart == "-DOCSTART- -X- -X- O" for d in docs)
    assert 20 <= len(sentences(docs)) <= 30
    assert all(len(s.columns) == len(s.tokens) and len(s.columns[0]) == 2 for s in sentences(docs))
    assert label_list(docs) == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    buf = io.StringIO()
    write_conll(docs, buf)
    assert buf.getvalue() == path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# Reading and writing small files
# --------------------------------------------------------------------------

IOB2_TEXT = """\
-DOCSTART- -X- O

Ada NNP B-PER
Lovelace NNP I-PER
met VBD O
Babbage NNP B-PER
Babbage NNP B-PER
in IN O
London NNP B-LOC

Paris NNP B-LOC

-DOCSTART- -X- O

The DT O
Royal NNP B-ORG
Society NNP I-ORG
. . O

"""
IOB2_TAGS = [
    ["B-PER", "I-PER", "O", "B-PER", "B-PER", "O", "B-LOC"],
    ["B-LOC"],
    ["O", "B-ORG", "I-ORG", "O"],
]
# The same text in IOB1 and BIOES, written by hand from the IOB2 tags above.
IOB1_TAGS = [
    ["I-PER", "I-PER", "O", "I-PER", "B-PER", "O", "I-LOC"],
    ["I-LOC"],
    ["O", "I-ORG", "I-ORG", "O"],
]
BIOES_TAGS = [
    ["B-PER", "E-PER", "O", "S-PER", "S-PER", "O", "S-LOC"],
    ["S-LOC"],
    ["O", "B-ORG", "E-ORG", "O"],
]


def _retag(text, tag_sequences):
    """`text` with the last column of each token line replaced, in order."""
    flat = iter(t for tags in tag_sequences for t in tags)
    out = []
    for line in text.split("\n"):
        if line and not line.startswith("-DOCSTART-"):
            line = line.rsplit(" ", 1)[0] + " " + next(flat)
        out.append(line)
    return "\n".join(out)


def _tags(docs):
    return [list(s.tags) for s in sentences(docs)]


def test_parse_structure():
    docs = parse_conll(IOB2_TEXT.splitlines())
    assert [d.docstart for d in docs] == ["-DOCSTART- -X- O", "-DOCSTART- -X- O"]
    assert [len(d.sentences) for d in docs] == [2, 1]
    first = docs[0].sentences[0]
    assert first.tokens == ("Ada", "Lovelace", "met", "Babbage", "Babbage", "in", "London")
    assert first.columns == (("NNP",), ("NNP",), ("VBD",), ("NNP",), ("NNP",), ("IN",), ("NNP",))
    assert [s.line for s in sentences(docs)] == [3, 11, 15]
    assert _tags(docs) == IOB2_TAGS


@pytest.mark.parametrize("scheme, tag_sequences", [("IOB1", IOB1_TAGS), ("BIOES", BIOES_TAGS), ("IOB2", IOB2_TAGS)])
@pytest.mark.parametrize("declared", [True, False])
def test_scheme_round_trip(scheme, tag_sequences, declared):
    """Read a file in `scheme` (declared or detected), get IOB2, write it back in `scheme`."""
    text = _retag(IOB2_TEXT, tag_sequences)
    docs = parse_conll(text.splitlines(), scheme=scheme if declared else "auto")
    assert _tags(docs) == IOB2_TAGS
    buf = io.StringIO()
    write_conll(docs, buf, scheme=scheme)
    assert buf.getvalue() == text


def test_iob1_to_iob2_to_iob1_through_files(tmp_path, caplog):
    iob1 = _retag(IOB2_TEXT, IOB1_TAGS)
    (tmp_path / "in.txt").write_text(iob1, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="ner.data"):
        docs = read_conll(tmp_path / "in.txt")
    # The detected scheme is said (training and the report print it).
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'in.txt'}: tag scheme IOB1 (detected), converted to IOB2"]
    write_conll(docs, tmp_path / "iob2.txt")
    assert (tmp_path / "iob2.txt").read_text(encoding="utf-8") == IOB2_TEXT
    write_conll(read_conll(tmp_path / "iob2.txt"), tmp_path / "iob1.txt", scheme="IOB1")
    assert (tmp_path / "iob1.txt").read_text(encoding="utf-8") == iob1


def test_tolerates_crlf_bom_tabs_trailing_space_and_blank_runs(tmp_path):
    messy = (
        "\ufeff-DOCSTART- -X- O  \r\n\r\n\r\n"
        "Ada\tNNP\tB-PER \r\nLovelace  NNP I-PER\t\r\nmet VBD O\r\nBabbage NNP B-PER\r\n"
        "Babbage NNP B-PER\r\nin IN O\r\nLondon NNP B-LOC\r\n   \r\n\r\n"
        "Paris NNP B-LOC\r\n\r\n-DOCSTART- -X- O\r\n"
        "The DT O\r\nRoyal NNP B-ORG\r\nSociety NNP I-ORG\r\n. . O"  # no final newline
    )
    path = tmp_path / "messy.txt"
    path.write_bytes(messy.encode("utf-8"))
    for docs in (read_conll(path), parse_conll(messy.split("\n"))):
        assert [d.docstart for d in docs] == ["-DOCSTART- -X- O", "-DOCSTART- -X- O"]
        assert [s.line for s in sentences(docs)] == [4, 13, 16]
        buf = io.StringIO()
        write_conll(docs, buf)
        assert buf.getvalue() == IOB2_TEXT  # exact on tokens, columns, tags and boundaries


def test_no_docstart_gives_one_document():
    docs = parse_conll(["Ada B-PER", "", "", "met O", "Babbage B-PER", ""])
    assert len(docs) == 1 and docs[0].docstart is None
    assert [s.tokens for s in docs[0].sentences] == [("Ada",), ("met", "Babbage")]
    assert docs[0].sentences[0].columns == ()  # two-column file: no middle columns
    buf = io.StringIO()
    write_conll(docs, buf)
    assert buf.getvalue() == "Ada B-PER\n\nmet O\nBabbage B-PER\n\n"


def test_sentences_before_first_docstart():
    docs = parse_conll(["a O", "", "-DOCSTART- O", "", "b B-LOC", ""])
    assert [d.docstart for d in docs] == [None, "-DOCSTART- O"]
    assert [[s.tokens for s in d.sentences] for d in docs] == [[("a",)], [("b",)]]


def test_unicode_space_inside_token_is_not_a_separator():
    docs = parse_conll(["10\u00a0000 CD O", "Zürich NNP B-LOC"])
    assert sentences(docs)[0].tokens == ("10\u00a0000", "Zürich")


MALFORMED = [
    # (lines after a valid 4-column first sentence, line number, message fragment)
    (["EU NNP B-ORG"], 4, "expected 4 columns like most lines, got 3: 'EU NNP B-ORG'"),
    (["EU NNP B-NP B-ORG extra"], 4, "expected 4 columns like most lines, got 5"),
    (["", "lonely"], 5, "expected at least 2 columns (token ... tag), got 1: 'lonely'"),
    (["EU NNP B-NP B-"], 4, "malformed tag 'B-'"),
    (["EU NNP B-NP X-PER"], 4, "malformed tag 'X-PER'"),
    (["EU NNP B-NP S-PER"], 4, "tag 'S-PER' is not allowed in scheme IOB2"),
]


def test_the_odd_line_is_named_even_when_it_comes_first(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("New York B-LOC\nis O\nbig O\n\nParis B-LOC\n", encoding="utf-8")
    with pytest.raises(ConllFormatError, match=r"two\.txt:1: expected 2 columns like most "
                                               r"lines, got 3: 'New York B-LOC'"):
        read_conll(path)


@pytest.mark.parametrize("extra, line, fragment", MALFORMED)
def test_malformed_line_names_file_and_line(tmp_path, extra, line, fragment):
    path = tmp_path / "bad.txt"
    lines = ["-DOCSTART- -X- -X- O", "", "Ada NNP B-NP B-PER", *extra, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConllFormatError) as err:
        read_conll(path, scheme="IOB2")
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert fragment in str(err.value)
    assert err.value.line == line and err.value.source == str(path)


def test_orphan_i_illegal_in_declared_iob2(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("a O\nb O\n\nc O\nd I-PER\n", encoding="utf-8")
    with pytest.raises(ConllFormatError, match=r"train\.txt:5: 'I-PER' after 'O' starts a chunk, which IOB2 forbids"):
        read_conll(path, scheme="IOB2")
    # Undeclared, the same file is IOB1 and reads fine.
    assert _tags(read_conll(path)) == [["O", "O"], ["O", "B-PER"]]


def test_mixed_iob1_iob2_file_needs_a_declared_scheme():
    lines = ["a B-LOC", "", "b O", "c I-PER", ""]
    with pytest.raises(ConllFormatError, match=r"<string>:4: .*pass scheme='IOB1'"):
        parse_conll(lines)
    assert _tags(parse_conll(lines, scheme="IOB1")) == [["B-LOC"], ["O", "B-PER"]]


def test_bioes_error_reports_line():
    with pytest.raises(ConllFormatError, match=r"f\.txt:4: 'O' after 'B-PER'.*not closed"):
        parse_conll(["x S-LOC", "", "a B-PER", "b O"], source="f.txt", scheme="auto")


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown tag scheme 'IOB3'"):
        parse_conll(["a O"], scheme="IOB3")
    with pytest.raises(ValueError, match="unknown tag scheme 'BILOU'"):
        write_conll([], io.StringIO(), scheme="BILOU")


@pytest.mark.parametrize("text", ["", "\n\n\n", "-DOCSTART- -X- -X- O\n\n", "\ufeff"])
def test_empty_file_is_an_error(tmp_path, text):
    path = tmp_path / "empty.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConllFormatError, match=r"empty\.txt: no sentences"):
        read_conll(path)


def test_not_utf8_is_an_error_naming_the_line_and_column(tmp_path):
    path = tmp_path / "latin1.txt"
    # Far enough in that the decoder's own position (within its chunk) differs.
    path.write_bytes(("w O\n" * 20_000 + "in O\nZürich B-LOC\n").encode("latin-1"))
    for read in (read_conll, read_predictions):
        with pytest.raises(ConllFormatError, match=r"latin1\.txt:20002: not UTF-8: byte 2 of "
                                                   r"the line \(b'\\xfc': ") as caught:
            read(path)
        assert caught.value.line == 20002


# --------------------------------------------------------------------------
# Writer errors, records, label lists
# --------------------------------------------------------------------------


def _doc(*sents, docstart="-DOCSTART- O"):
    return Document(tuple(sents), docstart)


@pytest.mark.parametrize(
    "documents, scheme, fragment",
    [
        ([_doc(Sentence(("New York",), ("B-LOC",)))], "IOB2", "'New York' is empty or contains whitespace"),
        ([_doc(Sentence(("",), ("O",)))], "IOB2", "is empty or contains whitespace"),
        ([_doc(Sentence((), ()))], "IOB2", "document 0, sentence 0 is empty"),
        ([_doc(Sentence(("a",), ("O",))), _doc(Sentence(("b",), ("O",)), docstart=None)], "IOB2", "document 1 has docstart=None"),
        ([_doc(Sentence(("a",), ("O",), (("X",),)), Sentence(("b",), ("O",)))], "IOB2", "same number of middle columns"),
        ([_doc(Sentence(("-DOCSTART-",), ("O",)))], "IOB2", "would read as a document break"),
        ([_doc(Sentence(("a", "b"), ("O", "I-PER")))], "BIOES", "cannot convert to BIOES"),
    ],
)
def test_write_rejects_what_a_file_cannot_hold(tmp_path, documents, scheme, fragment):
    path = tmp_path / "out.txt"
    with pytest.raises(ValueError) as err:
        write_conll(documents, path, scheme=scheme)
    assert fragment in str(err.value)
    assert not path.exists()  # nothing half-written


def test_write_iob2_passes_orphan_i_through():
    # A softmax tagger's raw output is written as is, e.g. for conlleval.
    buf = io.StringIO()
    write_conll([_doc(Sentence(("a", "b"), ("O", "I-PER")), docstart=None)], buf)
    assert buf.getvalue() == "a O\nb I-PER\n\n"


def test_sentence_normalises_and_validates():
    s = Sentence(["a", "b"], ["O", "B-PER"], [["X"], ["Y"]], 7)
    assert s.tokens == ("a", "b") and s.tags == ("O", "B-PER") and s.columns == (("X",), ("Y",))
    assert hash(s) == hash(Sentence(("a", "b"), ("O", "B-PER"), (("X",), ("Y",)), 7))
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        Sentence(("a", "b"), ("O",))
    with pytest.raises(ValueError, match="2 tokens but 1 rows of columns"):
        Sentence(("a", "b"), ("O", "O"), (("X",),))


def test_label_list_order_and_entity_types():
    docs = [
        _doc(Sentence(("a", "b", "c"), ("B-PER", "I-PER", "B-ORG"))),
        _doc(Sentence(("d", "e"), ("O", "B-LOC"))),
    ]
    assert entity_types(docs) == ["LOC", "ORG", "PER"]
    # I- is listed even for types seen only as B-, so any legal sequence is expressible.
    assert label_list(docs) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert label_list([_doc(Sentence(("x",), ("O",)))]) == ["O"]
    assert [s.tokens for s in sentences(docs)] == [("a", "b", "c"), ("d", "e")]


def test_document_ids():
    docs = parse_conll(IOB2_TEXT.splitlines())
    assert document_ids(docs) == [0, 0, 1]
    assert document_ids([]) == []


# --------------------------------------------------------------------------
# Prediction files (conlleval's input: word ... gold pred)
# --------------------------------------------------------------------------

# A document separator and the extra blank lines real files have.
PREDICTIONS = """-DOCSTART- O O

John B-PER B-PER
Smith I-PER I-PER
visited O O


The O O
UN B-ORG I-ORG
"""
PRED_TOKENS = [["John", "Smith", "visited"], ["The", "UN"]]
PRED_GOLD = [["B-PER", "I-PER", "O"], ["O", "B-ORG"]]
PRED_PRED = [["B-PER", "I-PER", "O"], ["O", "I-ORG"]]  # tags as written: no conversion


def _write_text(tmp_path, text, name="pred.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_read_predictions(tmp_path):
    tokens, gold, pred = read_predictions(_write_text(tmp_path, PREDICTIONS))
    assert (tokens, gold, pred) == (PRED_TOKENS, PRED_GOLD, PRED_PRED)


def test_read_predictions_extra_columns_and_missing_prediction(tmp_path):
    text = ("EU NNP B-NP B-ORG B-ORG\n"
            "rejects VBZ B-VP O\n"            # one column short: no prediction
            "German JJ B-NP B-MISC B-MISC\n"
            "\n"
            "Peter NNP B-NP B-PER I-PER\n")
    tokens, gold, pred = read_predictions(_write_text(tmp_path, text))
    assert tokens == [["EU", "rejects", "German"], ["Peter"]]
    assert gold == [["B-ORG", "O", "B-MISC"], ["B-PER"]]
    assert pred == [["B-ORG", None, "B-MISC"], ["I-PER"]]


@pytest.mark.parametrize("text, scheme, line, message", [
    ("a O O\nb O O\nc O\nd O O O O\n", "auto", 4,
     "expected 3 columns (word ... gold pred) like most lines, got 5"),
    ("a O O\nb PER O\n", "auto", 2, "gold malformed tag 'PER'"),
    ("a O O\n\nb B-PER B-\n", "auto", 3, "predicted malformed tag 'B-'"),
    ("a B-PER B-PER\nb I-PER E-PER\n", "IOB2", 2,
     "predicted tag 'E-PER' is not allowed in scheme IOB2"),
    ("a O\nb O\n", "auto", 1, "expected at least 3 columns"),
    # The line named has the width most lines have, not merely the first one.
    ("John B-PER B-PER\nSmith I-PER\nin O\nParis B-LOC\n", "auto", 2,
     "expected at least 3 columns (word ... gold pred), got 2, as most lines have"),
    ("", "auto", None, "empty file: no token lines"),
    ("-DOCSTART- O O\n\n", "auto", None, "empty file: no token lines"),
])
def test_read_predictions_bad_input_names_file_and_line(tmp_path, text, scheme, line, message):
    path = _write_text(tmp_path, text)
    with pytest.raises(ConllFormatError) as caught:
        read_predictions(path, scheme)
    assert (caught.value.source, caught.value.line) == (path, line)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


@pytest.mark.parametrize("text, expected", [
    ("-DOCSTART- -X- O O\n\nEU NNP B-ORG B-ORG\n\n-DOCSTART- -X- O O\n\nx NN O O\n", (2, True)),
    ("-DOCSTART- -X- O\n\nEU NNP B-ORG B-ORG\n", (1, False)),    # conlleval.pl refuses it
    ("-DOCSTART- -X- O B-ORG\n\nEU NNP B-ORG B-ORG\n", (1, False)),  # not a correct O O
    ("EU B-ORG B-ORG\n", (0, True)),
])
def test_count_docstart_lines(tmp_path, text, expected):
    assert count_docstart_lines(_write_text(tmp_path, text)) == expected


def test_read_predictions_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_predictions(str(tmp_path / "absent.txt"))


def test_a_write_killed_midway_leaves_the_previous_file(tmp_path, monkeypatch):
    # training's test_predictions.txt, the report's --predictions: all or nothing.
    path = tmp_path / "out.txt"
    path.write_text("previous\n")

    def killed(*args):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_predictions(str(path), PRED_TOKENS, PRED_GOLD, PRED_PRED)
    assert path.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_predictions_round_trip(tmp_path):
    path = str(tmp_path / "out.txt")
    write_predictions(path, PRED_TOKENS, PRED_GOLD, PRED_PRED)
    lines = (tmp_path / "out.txt").read_text().split("\n")
    assert lines == ["John B-PER B-PER", "Smith I-PER I-PER", "visited O O", "",
                     "The O O", "UN B-ORG I-ORG", "", ""]  # a blank line after each sentence
    assert read_predictions(path) == (PRED_TOKENS, PRED_GOLD, PRED_PRED)
    with pytest.raises(ValueError):
        write_predictions(path, PRED_TOKENS, PRED_GOLD, PRED_PRED[:1])
