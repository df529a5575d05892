"""scripts/tagging_cost.py: documents as texts, every model timed, ratios to the first."""

import json
import sys
from pathlib import Path

import pytest

# The script imports its helpers as `_common`, from its own folder (sys.path[0]
# when it runs as `python scripts/tagging_cost.py`).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from scripts.benchmark_tag import conll_lines  # noqa: E402
from scripts.tagging_cost import main  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

CONLL = """-DOCSTART- -X- -X- O

Ada NNP B-NP B-PER
lives VBZ B-VP O

in IN B-PP O
London NNP B-NP B-LOC

-DOCSTART- -X- -X- O

Paris NNP B-NP B-LOC
"""


def test_documents_are_the_texts_tagged(tmp_path):
    path = tmp_path / "test.txt"
    path.write_text(CONLL, encoding="utf-8")
    assert conll_lines(path, "document") == ["Ada lives in London", "Paris"]
    assert len(conll_lines(path, "sentence")) == 3


def test_times_every_model_and_writes_ratios(tmp_path, capsys):
    data = tmp_path / "test.txt"
    data.write_text(CONLL, encoding="utf-8")
    plain = write_model_folder(tmp_path / "plain")
    context = write_model_folder(tmp_path / "context", document_context=True)
    out = tmp_path / "cost.json"
    assert main([str(plain), str(context), f"--data={data}", "--rounds=2",
                 f"--output={out}"]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert (result["documents"], result["sentences"]) == (2, 3)
    rows = result["models"]
    assert [r["document_context"] for r in rows] == [False, True]
    assert all(len(r["seconds"]) == 2 and min(r["seconds"]) > 0 for r in rows)
    assert rows[0]["ratio_to_first"] == 1.0
    assert rows[1]["ratio_to_first"] == pytest.approx(min(rows[1]["seconds"]) / min(rows[0]["seconds"]))
    assert "document_context=True" in capsys.readouterr().out


def test_rounds_must_be_positive(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--rounds=0"])
