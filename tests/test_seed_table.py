"""scripts/seed_table.py: figures read from run folders, truncated, with mean and spread."""

import json

import pytest

from scripts.seed_table import main, read_run, summarize, truncate


def _fake_run(folder, seed, dev_f1s, dev, test, types):
    folder.mkdir()
    (folder / "train.flags").write_text(f"# flags\n--seed={seed}\n--epochs={len(dev_f1s)}\n")
    (folder / "train_log.jsonl").write_text("".join(
        json.dumps({"epoch": i + 1, "seconds": 50.0 + i, "dev": {"f1": f}}) + "\n"
        for i, f in enumerate(dev_f1s)))
    report = lambda f1, per_type: {"default": {"micro avg": {"f1": f1}, "types": {
        t: {"f1": v} for t, v in per_type.items()}}}
    (folder / "dev_report.json").write_text(json.dumps(report(dev, types)))
    (folder / "test_report.json").write_text(json.dumps(report(test, types)))
    return folder


def test_truncates_instead_of_rounding():
    assert truncate(89.999) == "89.99"
    assert truncate(90.0) == "90.00"
    assert truncate(86.0633) == "86.06"


def test_reads_runs_and_summarizes_them(tmp_path, capsys):
    types = {"PER": 0.95, "LOC": 0.92, "ORG": 0.87, "MISC": 0.79}
    a = _fake_run(tmp_path / "a", 42, [0.90, 0.93, 0.92], 0.931, 0.8989, types)
    b = _fake_run(tmp_path / "b", 43, [0.91, 0.94], 0.941, 0.9049, types)
    run = read_run(a)
    assert (run["seed"], run["best_epoch"], run["seconds"]) == (42, 2, (50.0, 52.0))
    assert run["test"] == pytest.approx(89.89)
    s = summarize([run, read_run(b)])
    assert s["test"]["mean"] == pytest.approx(90.19)
    assert (s["test"]["min"], s["test"]["max"]) == pytest.approx((89.89, 90.49))
    assert s["dev"]["sd"] == pytest.approx(0.7071, abs=1e-4)
    assert main([f"--group=g={a},{b}"]) == 0
    out = capsys.readouterr().out
    assert ("| g: mean of 2 (min-max, sd) | | | **93.60** (93.10-94.10, sd 0.70) "
            "| **90.19** (89.89-90.49, sd 0.42)") in out


def test_a_seed_can_be_given_for_a_run_without_flags(tmp_path, capsys):
    types = {"PER": 0.95, "LOC": 0.92, "ORG": 0.87, "MISC": 0.79}
    old = _fake_run(tmp_path / "old", 7, [0.9], 0.9, 0.88, types)
    (old / "train.flags").unlink()
    assert main([f"--group=g={old}"]) == 1  # no seed: refused, not guessed
    assert main([f"--group=g={old}@42"]) == 0
    assert f"| g (`{old}`) | 42 | 1 |" in capsys.readouterr().out


def test_an_unfinished_run_is_named(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    assert main([f"--group=g={tmp_path / 'half'}"]) == 1
    assert "half: not a finished training run" in capsys.readouterr().err
