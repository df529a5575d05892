"""scripts/rawtext_f1.py: CoNLL sentences as raw text, scored by character span and type."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from scripts.rawtext_f1 import main  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

# The rule model tags a word by its first wordpiece: "zoe-x" is one word, as
# in CoNLL, so raw text gives the gold span; split at the hyphen it would not.
CONLL = """-DOCSTART- -X- -X- O

john B-PER
smith I-PER
lives O
in O
paris B-LOC

zoe-x B-PER
met O
acme B-ORG
corp O
"""


def test_raw_text_and_words_are_scored_alike(tmp_path, capsys):
    data = tmp_path / "test.txt"
    data.write_text(CONLL, encoding="utf-8")
    main([f"--model_dir={write_model_folder(tmp_path / 'model')}", f"--data={data}"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{data}, 2 sentences, float32"
    # Gold: john smith, paris, zoe-x, acme; predicted also "acme corp" (ORG
    # with its I-ORG), whose span is not acme's.
    expected = "gold 4, predicted 4, correct 3: P 75.00 R 75.00 F1 75.00"
    assert out[1:] == [f"raw text (tag_batch):    {expected}",
                       f"CoNLL words (tag_tokens): {expected}"]


def test_layouts_put_gold_spans_where_their_words_are():
    from ner import data
    from scripts.rawtext_f1 import layout_texts, wrap

    documents = data.parse_conll(CONLL.splitlines())
    for layout, text in (("lines", "john smith lives in paris\nzoe-x met acme corp"),
                         ("paragraph", "john smith lives in paris zoe-x met acme corp"),
                         ("wrapped:12", "john smith\nlives in\nparis zoe-x\nmet acme\ncorp")):
        texts, gold = layout_texts(documents, layout)
        assert texts == [text], layout
        assert sorted((text[a:b], kind) for _, a, b, kind in gold) == [
            ("acme", "ORG"), ("john smith", "PER"), ("paris", "LOC"), ("zoe-x", "PER")]
    texts, gold = layout_texts(documents, "sentences")
    assert texts == ["john smith lives in paris", "zoe-x met acme corp"]
    assert wrap("a bb " + "c" * 20 + " d", 3) == "a\nbb\n" + "c" * 20 + "\nd"
    with pytest.raises(ValueError, match="--layout"):
        layout_texts(documents, "columns")
