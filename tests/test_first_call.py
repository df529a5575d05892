"""scripts/first_call.py: each phase of a fresh process timed, checkouts in turns."""

import json
import shutil
import sys
from pathlib import Path

import pytest

# The script imports its helpers as `_common`, from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from scripts.first_call import main  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def test_times_each_phase_of_both_checkouts_in_turns(tmp_path, capsys):
    model = write_model_folder(tmp_path / "model")
    other = tmp_path / "other"
    shutil.copytree(REPO / "ner", other / "ner", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "rounds.json"
    assert main([f"--model_dir={model}", "--rounds=1", f"--against={other}",
                 f"--output={out}"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == [
        f"round 1 {REPO}", f"round 1 {other}", f"median of 1, {REPO} (float32)",
        f"median of 1, {other} (float32)"]
    rounds = json.loads(out.read_text())["rounds"]
    assert list(rounds) == [str(REPO), str(other)]
    for checkout, (result,) in rounds.items():
        # Each child imported its own checkout's ner, not the installed one.
        assert Path(result["ner"]).parent.parent == Path(checkout)
        assert all(result[p] > 0 for p in ("import_s", "load_s", "first_call_s"))
        # The first call traces and optimises the graph; the second only runs it.
        assert result["first_call_s"] > result["second_call_s"]
        assert result["graph_ops"] > 500


@pytest.mark.parametrize("against, message", [
    ("{tmp}", "not a checkout of this repository"),
    (str(REPO), "this checkout itself"),
])
def test_against_must_name_another_checkout(tmp_path, capsys, against, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model_dir=unused", f"--against={against.format(tmp=tmp_path)}"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
