"""scripts/profile_ops.py --against: a second tagger traced under another module constant."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from scripts.profile_ops import main  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

CONLL = "-DOCSTART- -X- -X- O\n\nAda NNP B-NP B-PER\nlives VBZ B-VP O\n\nParis NNP B-NP B-LOC\n"


def test_against_times_both_taggers_in_turns_and_restores_the_constant(tmp_path, capsys):
    from ner import bert

    folder = write_model_folder(tmp_path / "model")
    data = tmp_path / "test.txt"
    data.write_text(CONLL)
    before = bert.FUSED_LAYER_NORM_MIN_ROWS
    main([f"--model_dir={folder}", f"--data={data}", "--call_sizes=1,2", "--rounds=2",
          "--against=ner.bert.FUSED_LAYER_NORM_MIN_ROWS=0"])
    lines = capsys.readouterr().out.splitlines()
    timed = [line.split(":")[0] for line in lines if "calls of" in line]
    setting = "ner.bert.FUSED_LAYER_NORM_MIN_ROWS=0"
    # Round 1 as it is first, round 2 the other first; each with both call sizes.
    assert timed == ["as it is"] * 2 + [setting] * 2 + [setting] * 2 + ["as it is"] * 2
    assert bert.FUSED_LAYER_NORM_MIN_ROWS == before
    with pytest.raises(SystemExit, match="ner.bert has no NO_SUCH_NAME"):
        main([f"--model_dir={folder}", f"--data={data}", "--call_sizes=1",
              "--against=ner.bert.NO_SUCH_NAME=1"])
