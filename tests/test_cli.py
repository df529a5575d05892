"""Every command line answers `--help` with its help, not with TensorFlow's start-up logs."""

import ast
import subprocess
import sys

import pytest

# (command after the interpreter, the file whose docstring absl prints first).
# argparse scripts print "usage: ..." first instead.
COMMANDS = [
    (["-m", "ner.train"], "ner/train.py"),
    (["-m", "ner.export"], "ner/export.py"),
    (["-m", "ner.serve"], "ner/serve.py"),
    (["-m", "evaluation.report"], "evaluation/report.py"),
    (["-m", "ner.precision"], None),
    (["-m", "ner.average"], None),
    (["scripts/benchmark.py"], None),
    (["scripts/benchmark_training.py"], "scripts/benchmark_training.py"),
    (["scripts/fuzz_api.py"], None),
    (["scripts/load_test.py"], None),
    (["scripts/padding_stats.py"], "scripts/padding_stats.py"),
    (["scripts/profile_ops.py"], None),
    (["scripts/tagging_cost.py"], None),
]


@pytest.fixture(scope="module")
def helps(repo_root):
    """Each command's `--help` output (stdout and stderr as one stream), run side by side."""
    runs = {}
    for param in COMMANDS:
        args = param.values[0] if hasattr(param, "values") else param[0]
        runs[" ".join(args)] = subprocess.Popen(
            [sys.executable, *args, "--help"], cwd=repo_root, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
    out = {}
    for name, run in runs.items():
        text, _ = run.communicate(timeout=300)
        out[name] = (run.returncode, text)
    return out


@pytest.mark.parametrize("args, doc_file", COMMANDS)
def test_help_comes_first(helps, repo_root, args, doc_file):
    returncode, text = helps[" ".join(args)]
    assert returncode in (0, 1), text[-2000:]  # absl's --help exits with 1
    first = text.splitlines()[0] if text else ""
    if doc_file is None:
        assert first.startswith("usage: "), text[:2000]
    else:
        doc = ast.get_docstring(ast.parse((repo_root / doc_file).read_text(encoding="utf-8")))
        assert first == doc.splitlines()[0], text[:2000]
    assert "--" in text  # the flags follow
