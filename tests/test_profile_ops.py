"""scripts/profile_ops.py (--against, --threads) and scripts/op_crossover.py."""

import re
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


def test_op_crossover_times_both_ways_and_names_the_constants_pick(capsys):
    """scripts/op_crossover.py: a line per step and shape, oneDNN's time, the plain ops',
    and which of the two `ner.bert`'s constant picks at that size."""
    from ner import bert
    from scripts.op_crossover import main as crossover

    if not (bert.fused_layer_norm_available() and bert.fused_int8_available()):
        pytest.skip("this TensorFlow build has no oneDNN LayerNorm or int8 kernels")
    crossover(["--rows=8,512", "--width=384,1536", "--calls=2", "--repeats=1"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [(r[0], r[1] + r[2]) for r in rows] == [
        ("LayerNorm", "[8,384]"), ("LayerNorm", "[512,384]"),
        ("quantize", "[8,384]"), ("quantize", "[512,384]"),
        ("quantize", "[8,1536]"), ("quantize", "[512,1536]")]
    assert all(float(r[3]) > 0 and float(r[4]) > 0 for r in rows)
    way = lambda large: "oneDNN" if large else "plain ops"
    want = [way(r >= bert.FUSED_LAYER_NORM_MIN_ROWS) for r in (8, 512)] + [
        way(r * w >= bert.ONEDNN_QUANTIZE_MIN_VALUES) for w in (384, 1536) for r in (8, 512)]
    assert [" ".join(r[5:]) for r in rows] == want
    assert want == ["plain ops", "oneDNN"] * 3  # both ways shown at today's constants


def test_threads_time_each_call_size_from_each_number_of_threads(tmp_path, capsys):
    folder = write_model_folder(tmp_path / "model")
    data = tmp_path / "test.txt"
    data.write_text(CONLL)
    main([f"--model_dir={folder}", f"--data={data}", "--call_sizes=1,2", "--rounds=1",
          "--threads=1,2"])
    lines = [line for line in capsys.readouterr().out.splitlines() if "calls of" in line]
    assert [line.split(":")[0] for line in lines] == [
        "float32, calls of 1", "float32, calls of 1 from 2 threads",
        "float32, calls of 2", "float32, calls of 2 from 2 threads"]
    assert all(re.search(r": \d+\.\d\d s wall, \d+\.\d\d CPU-s$", line) for line in lines)


def test_the_profile_counts_each_op_types_runs(tmp_path, capsys):
    """Without --call_sizes: per op type its self time and how often it ran; calls of
    one sentence run the pipeline's ops once per call, so more often than one call."""
    folder = write_model_folder(tmp_path / "model")
    data = tmp_path / "test.txt"
    data.write_text(CONLL)
    runs = {}
    for calls_of in (0, 1):
        main([f"--model_dir={folder}", f"--data={data}", f"--calls_of={calls_of}", "--top=5"])
        lines = capsys.readouterr().out.splitlines()
        header = re.search(r"calls of (\d+): (\d+) op runs, ([\d.]+) ms of op time$", lines[-6])
        assert header and int(header[1]) == (calls_of or 2), lines
        rows = [re.fullmatch(r"(\S+) +([\d.]+) ms +([\d.]+)% +(\d+) runs", line.strip())
                for line in lines[-5:]]
        assert all(rows), lines[-5:]
        assert sum(int(r[4]) for r in rows) <= int(header[2])
        runs[calls_of] = int(header[2])
    assert runs[1] > runs[0]
