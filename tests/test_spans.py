"""Character-offset span files (JSONL) -> IOB2 sentences: conversion, snapping, errors."""

import json
import logging

import pytest

from ner import data, schemes, spans, train
from ner.segmentation import split_texts
from ner.spans import SpanFormatError, parse_spans, read_spans
from ner.tokenization import Tokenizer, text_batch


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.from_pretrained()


def _parse(tokenizer, *records, strict=False, source="t.jsonl"):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return parse_spans(lines, tokenizer, source, strict=strict)


def _tagged(docs):
    return [list(zip(s.tokens, s.tags)) for d in docs for s in d.sentences]


def _conll_as_jsonl(documents, tokenizer):
    """Each document as one JSONL record: sentences joined by blank lines, chunks as spans.

    Only sentences whose words the tagger's splitter gives back unchanged (CoNLL's
    "1-0" is three words to it) and that its sentence rule keeps whole are kept.
    """
    records, kept = [], []
    for doc in documents:
        text, entities, sentences = "", [], []
        for sentence in doc.sentences:
            joined = " ".join(sentence.tokens)
            found = split_texts(tokenizer, text_batch([joined]))
            words = [w.decode() for w in found["strings"].numpy()]
            if words != list(sentence.tokens) or len(found["sentence_splits"]) != 2:
                continue
            if text:
                text += "\n\n"
            offsets, at = [], len(text)
            for token in sentence.tokens:
                offsets.append(at)
                at += len(token) + 1
            for label, start, end in schemes.chunks(sentence.tags):
                entities.append([offsets[start], offsets[end - 1] + len(sentence.tokens[end - 1]),
                                 label])
            text += joined
            sentences.append(sentence)
        if sentences:
            records.append({"text": text, "entities": entities})
            kept.append(sentences)
    return records, kept


def test_spans_give_the_same_words_and_iob2_as_conll(tokenizer, repo_root, tmp_path):
    documents = data.read_conll(repo_root / "data" / "conll2003" / "sample.txt")
    records, kept = _conll_as_jsonl(documents, tokenizer)
    assert sum(map(len, kept)) >= 15  # most of the sample's 25 sentences
    assert sum(len(r["entities"]) for r in records) >= 15
    path = tmp_path / "sample.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    converted = read_spans(path, tokenizer)
    assert len(converted) == len(kept)  # one document per line
    for doc, sentences in zip(converted, kept):
        assert [(s.tokens, s.tags) for s in doc.sentences] == [(s.tokens, s.tags)
                                                               for s in sentences]
    assert [s.line for s in converted[1].sentences] == [2] * len(converted[1].sentences)
    assert data.label_list(converted) == data.label_list(documents)


def test_the_three_span_spellings_read_alike(tokenizer):
    text = "Ada Lovelace met Charles Babbage in London ."
    entities = [[0, 12, "PER"], [17, 32, "PER"], [36, 42, "LOC"]]
    expected = [[("Ada", "B-PER"), ("Lovelace", "I-PER"), ("met", "O"), ("Charles", "B-PER"),
                 ("Babbage", "I-PER"), ("in", "O"), ("London", "B-LOC"), (".", "O")]]
    as_dicts = [{"start": s, "end": e, "label": label} for s, e, label in entities]
    for record in ({"text": text, "entities": entities}, {"text": text, "spans": as_dicts},
                   {"id": 7, "text": text, "label": entities, "Comments": []}):
        assert _tagged(_parse(tokenizer, record)) == expected


def test_a_custom_label_set_is_whatever_the_file_uses(tokenizer):
    docs = _parse(tokenizer,
                  {"text": "Take 5 mg aspirin daily.", "entities": [[5, 9, "Dose"], [10, 17, "Drug"]]},
                  {"text": "B cells respond.", "entities": [[0, 7, "B-cell"]]})
    assert _tagged(docs)[0] == [("Take", "O"), ("5", "B-Dose"), ("mg", "I-Dose"),
                                ("aspirin", "B-Drug"), ("daily", "O"), (".", "O")]
    assert _tagged(docs)[1][0] == ("B", "B-B-cell")
    assert data.label_list(docs) == ["O", "B-B-cell", "I-B-cell", "B-Dose", "I-Dose",
                                     "B-Drug", "I-Drug"]


def test_a_span_cutting_a_word_is_snapped_with_a_warning(tokenizer, caplog):
    record = {"text": "a London bridge", "entities": [[3, 9, "LOC"]]}
    with caplog.at_level(logging.WARNING, logger="ner.spans"):
        docs = _parse(tokenizer, {"text": "fine", "entities": []}, record)
    assert caplog.messages == [
        't.jsonl:2: span [3, 9) "ondon " snapped to word boundaries [2, 8) "London"']
    assert _tagged(docs)[1] == [("a", "O"), ("London", "B-LOC"), ("bridge", "O")]


def test_strict_spans_reject_what_would_be_snapped(tokenizer):
    record = {"text": "a London bridge", "entities": [[3, 9, "LOC"]]}
    with pytest.raises(SpanFormatError) as e:
        _parse(tokenizer, {"text": "fine", "entities": []}, record, strict=True)
    assert str(e.value) == ('t.jsonl:2: span [3, 9) "ondon " does not fall on word boundaries '
                            '(its words are [2, 8) "London")')
    assert (e.value.source, e.value.line) == ("t.jsonl", 2)


def test_whitespace_at_span_edges_is_no_snapping(tokenizer, caplog):
    record = {"text": "a London bridge\u200b", "entities": [[1, 9, "LOC"], [9, 16, "X"]]}
    with caplog.at_level(logging.WARNING, logger="ner.spans"):
        docs = _parse(tokenizer, record, strict=True)
    assert not caplog.messages
    assert _tagged(docs) == [[("a", "O"), ("London", "B-LOC"), ("bridge\u200b", "B-X")]]


def test_overlapping_spans_are_an_error_naming_both(tokenizer):
    record = {"text": "New York City", "entities": [[0, 8, "LOC"], [4, 13, "ORG"]]}
    with pytest.raises(SpanFormatError, match=r'^t\.jsonl:1: overlapping spans \[0, 8\) "New York" '
                                              r'LOC and \[4, 13\) "York City" ORG$'):
        _parse(tokenizer, record)
    record = {"text": "New York City", "entities": [[4, 8, "Y"], [0, 13, "LOC"]]}  # nested
    with pytest.raises(SpanFormatError) as e:
        _parse(tokenizer, record)
    assert str(e.value) == ('t.jsonl:1: overlapping spans [0, 13) "New York City" LOC and '
                            '[4, 8) "York" Y')


def test_spans_that_overlap_only_once_snapped_are_an_error(tokenizer):
    record = {"text": "in London", "entities": [[3, 6, "A"], [6, 9, "B"]]}
    with pytest.raises(SpanFormatError) as e:
        _parse(tokenizer, {"text": "x", "label": []}, record)
    assert str(e.value) == ('t.jsonl:2: spans [3, 6) "Lon" A and [6, 9) "don" B overlap once '
                            'snapped to word boundaries (both cover "London")')


def test_an_entity_is_never_cut_by_the_sentence_rule(tokenizer, caplog):
    text = "We met Smith Jr. Brown today."
    plain = _tagged(_parse(tokenizer, {"text": text, "entities": []}))
    assert [len(s) for s in plain] == [5, 3]  # "... Jr ." | "Brown ...": the tagger's rule
    with caplog.at_level(logging.INFO, logger="ner.spans"):
        docs = _parse(tokenizer, {"text": text, "entities": [[7, 22, "PER"]]})
    assert _tagged(docs) == [[("We", "O"), ("met", "O"), ("Smith", "B-PER"), ("Jr", "I-PER"),
                              (".", "I-PER"), ("Brown", "I-PER"), ("today", "O"), (".", "O")]]
    assert any('t.jsonl:1: span [7, 22) "Smith Jr. Brown" crosses a sentence boundary' in m
               for m in caplog.messages)


def test_a_titles_period_is_part_of_it_and_ends_no_sentence(tokenizer):
    text = "We met Dr. Smith in St. Louis. Then Mr . Brown left."
    assert [[w for w, _ in s] for s in _tagged(_parse(tokenizer, {"text": text,
                                                                  "entities": []}))] == [
        ["We", "met", "Dr.", "Smith", "in", "St.", "Louis", "."],
        ["Then", "Mr", "."], ["Brown", "left", "."]]  # a period apart from its title ends one


def test_sentences_are_the_taggers(tokenizer, tmp_path):
    """The spans' sentences are `Tagger.split_sentences`' (until ner.pipeline calls
    ner.segmentation itself, this guards against the two drifting apart)."""
    from ner.tagger import Tagger
    from tests.tiny_model import write_model_folder

    tagger = Tagger.load(write_model_folder(tmp_path / "model"))
    texts = ["John lives in Paris. He met Zoe! the end? no.", "A b\n\nc d\ne. F",
             "in the U.S. Army. Dr. Smith", "x", "   "]
    found = split_texts(tagger.pipeline.tokenizer, text_batch(texts))
    chars = found["chars"]
    starts = chars.chars(found["text_of_word"], found["starts"]).numpy()
    ends = chars.chars(found["text_of_word"], found["ends"]).numpy()
    splits, text_of = found["sentence_splits"].numpy(), found["text_of_word"].numpy()
    mine = [[] for _ in texts]
    for a, b in zip(splits[:-1], splits[1:]):
        mine[text_of[a]].append((int(starts[a]), int(ends[b - 1])))
    assert mine == [tagger.split_sentences(t) for t in texts]
    docs = parse_spans([json.dumps({"text": t, "entities": []}) for t in texts],
                       tagger.pipeline.tokenizer)
    assert [len(d.sentences) for d in docs] == [len(m) for m in mine]


@pytest.mark.parametrize("line, message", [
    ('{"text": "x", "entities": [}', "not valid JSON: Expecting value (column 28)"),
    ('[1, 2]', "expected a JSON object {\"text\": ..., \"entities\": [...]}, got an array"),
    ('{"entities": []}', 'missing "text"'),
    ('{"text": 3, "entities": []}', '"text" must be a string, got a number'),
    ('{"text": "x"}', 'expected one of "entities" or "spans" or "label" (a list of spans; [] '
                      'for a text without entities)'),
    ('{"text": "x", "entities": [], "spans": []}',
     'both "entities" and "spans": expected one list of spans'),
    ('{"text": "x", "spans": {}}', '"spans" must be a list of spans, got an object'),
    ('{"text": "xy", "entities": [[0, 1]]}',
     'entities[0]: expected [start, end, label] or {"start", "end", "label"}, got [0, 1]'),
    ('{"text": "xy", "spans": [{"start": 0, "label": "A"}]}', "spans[0]: missing 'end'"),
    ('{"text": "xy", "entities": [[0, 1.5, "A"]]}',
     "entities[0]: end must be an integer (a character offset), got a number"),
    ('{"text": "xy", "entities": [[true, 1, "A"]]}',
     "entities[0]: start must be an integer (a character offset), got a boolean"),
    ('{"text": "xy", "entities": [[0, 3, "A"]]}',
     "entities[0]: span [0, 3): out of range for a text of 2 characters"),
    ('{"text": "xy", "entities": [[-1, 1, "A"]]}',
     "entities[0]: span [-1, 1): out of range for a text of 2 characters"),
    ('{"text": "xy", "entities": [[1, 1, "A"]]}',
     "entities[0]: span [1, 1): start must be less than end"),
    ('{"text": "xy", "label": [[0, 1, 5]]}', "label[0]: label must be a string, got a number"),
    ('{"text": "xy", "label": [[0, 1, "New Type"]]}',
     'label[0]: label "New Type" must be non-empty and without whitespace'),
    ('{"text": "xy", "label": [[0, 1, ""]]}',
     'label[0]: label "" must be non-empty and without whitespace'),
    ('{"text": "x y", "entities": [[0, 1, "A"], [2, 3, "O"]]}',
     'entities[1]: label "O" marks words outside entities; give such words no span'),
    ('{"text": "a   b", "entities": [[1, 4, "A"]]}',
     'span [1, 4) "   " A covers no word (only whitespace)'),
    ('{"text": "a \\u200b b", "entities": [[2, 3, "A"]]}',
     'span [2, 3) "\u200b" A covers no word (only whitespace and characters the tokenizer '
     'deletes)'),
])
def test_bad_lines_are_errors_naming_file_and_line(tokenizer, line, message):
    with pytest.raises(SpanFormatError) as e:
        parse_spans(['{"text": "ok", "entities": []}', "", line], tokenizer, "d/dev.jsonl")
    assert str(e.value) == f"d/dev.jsonl:3: {message}"


def test_a_json_array_file_reads_as_its_objects_one_per_line(tokenizer, tmp_path):
    """Label Studio's JSON-MIN export: one array; spans with "labels": [label]."""
    items = [{"id": 1, "text": "Ada Lovelace lives in London.",
              "label": [{"start": 0, "end": 12, "text": "Ada Lovelace", "labels": ["PER"]},
                        {"start": 22, "end": 28, "text": "London", "labels": ["LOC"]}]},
             {"id": 2, "text": "Nothing here.", "label": []}]
    lines = [json.dumps(item) for item in items]
    as_lines = parse_spans(lines, tokenizer, "a.jsonl")
    path = tmp_path / "export.json"
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    from_file = read_spans(path, tokenizer)
    one_a_line = parse_spans(["\ufeff[" + lines[0] + ",", lines[1] + "]"], tokenizer, "b.json")
    assert _tagged(from_file) == _tagged(one_a_line) == _tagged(as_lines)
    assert [d.sentences[0].line for d in one_a_line[:1] + from_file[:1]] == [1, 2]
    assert _tagged(as_lines)[0] == [("Ada", "B-PER"), ("Lovelace", "I-PER"), ("lives", "O"),
                                    ("in", "O"), ("London", "B-LOC"), (".", "O")]
    # Items are named by the line they start on.
    bad = ["[", '  {"text": "ok", "label": []},', '  {"text": 3, "label": []}', "]"]
    with pytest.raises(SpanFormatError, match=r'^b\.json:3: "text" must be a string'):
        parse_spans(bad, tokenizer, "b.json")
    for lines_, message in (
            (["[", '{"text": "ok", "label": []}'], r"^c\.json:2: .*array is not closed"),
            (["[", '{"text": "ok", "label": []},', "]"], r'^c\.json:3: .*a "," before "]"'),
            (['[{"text": "ok", "label": []} {"text": "x", "label": []}]'],
             r'^c\.json:1: .*expected "," or "]"'),
            (["[", '{"text": "ok", "label": [}', "]"], r"^c\.json:2: not valid JSON"),
            (['[{"text": "ok", "label": []}] x'], r"^c\.json:1: .*text after the array"),
            (['[{"text": "ok", "label": [{"start": 0, "end": 2, "labels": ["A", "B"]}]}]'],
             r'^c\.json:1: label\[0\]: "labels" must hold one label')):
        with pytest.raises(SpanFormatError, match=message):
            parse_spans(lines_, tokenizer, "c.json")


def test_file_level_errors_and_line_endings(tokenizer, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    with pytest.raises(SpanFormatError, match=r"empty\.jsonl: no texts"):
        read_spans(path, tokenizer)
    path.write_bytes(b'{"text": "a", "entities": []}\n' * 9000
                     + b'{"text": "\xff", "entities": []}\n')
    with pytest.raises(SpanFormatError, match=r"empty\.jsonl:9001: not UTF-8: byte 11 of the "
                                              r"line \(b'\\xff': "):
        read_spans(path, tokenizer)
    # A byte-order mark, CRLF line endings and a raw U+2028 inside a string.
    path.write_bytes('\ufeff{"text": "Ada Lovelace\u2028in", "entities": [[4, 12, "PER"]]}\r\n'
                     '{"text": "London", "entities": [[0, 6, "LOC"]]}\r\n'.encode())
    assert _tagged(read_spans(path, tokenizer)) == [
        [("Ada", "O"), ("Lovelace", "B-PER"), ("in", "O")], [("London", "B-LOC")]]


def test_training_reads_span_files_by_their_extension(tokenizer, tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "Ada Lovelace", "entities": [[0, 12, "PER"]]}\n')
    (tmp_path / "a.txt").write_text("Ada B-PER\nLovelace I-PER\n")
    assert spans.is_span_file(tmp_path / "b.JSON") and not spans.is_span_file(tmp_path / "a.txt")
    from_spans = train.read_documents(tmp_path / "a.jsonl", tokenizer)
    from_conll = train.read_documents(tmp_path / "a.txt", tokenizer)
    assert _tagged(from_spans) == _tagged(from_conll) == [[("Ada", "B-PER"),
                                                          ("Lovelace", "I-PER")]]


def test_a_label_that_looks_like_a_tag_is_warned_about_once(tokenizer, caplog):
    lines = ['{"text": "paris and rome", "entities": [[0, 5, "B-LOC"], [10, 14, "B-LOC"]]}',
             '{"text": "b cells", "entities": [[0, 7, "B-cell"]]}']
    with caplog.at_level("WARNING", logger="ner.spans"):
        docs = parse_spans(lines, tokenizer, "d/train.jsonl")
    assert docs[0].sentences[0].tags == ("B-B-LOC", "O", "B-B-LOC")
    assert [r.getMessage() for r in caplog.records] == [
        'd/train.jsonl:1: entities[0]: label "B-LOC" looks like a tag with its scheme prefix; '
        'labels are entity types, and this one trains as the tag B-B-LOC (if it is an entity '
        'type, ignore this)']
