"""Every command line answers `--help` with its help, not with TensorFlow's start-up logs,
and exits 0; a missing extra is one line naming it."""

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
    (["-m", "evaluation.curves"], "evaluation/curves.py"),
    (["-m", "evaluation.entities"], None),
    (["-m", "ner.tag"], None),
    (["-m", "ner.beam"], None),
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
    assert returncode == 0, text[-2000:]  # absl's own --help exits 1 (ner.cli.run_absl)
    first = text.splitlines()[0] if text else ""
    if doc_file is None:
        assert first.startswith("usage: "), text[:2000]
    else:
        doc = ast.get_docstring(ast.parse((repo_root / doc_file).read_text(encoding="utf-8")))
        assert first == doc.splitlines()[0], text[:2000]
    assert "--" in text  # the flags follow


def _without(module: str) -> str:
    """Python code that makes `module` look uninstalled, then runs argv as `python -m`."""
    return (f"import importlib.util, runpy, sys; real = importlib.util.find_spec; "
            f"importlib.util.find_spec = lambda name, *a: None if name == {module!r} "
            f"else real(name, *a); sys.modules[{module!r}] = None; "
            f"runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


@pytest.mark.parametrize("module, missing, args", [
    ("ner.serve", "fastapi", ["--model_dir=absent"]),
    ("ner.beam", "apache_beam", ["--help"]),
])
def test_a_missing_extra_is_one_line_naming_it(repo_root, module, missing, args):
    run = subprocess.run([sys.executable, "-c", _without(missing), module, *args], cwd=repo_root,
                         capture_output=True, text=True, timeout=300)
    extra = module.split(".")[1]
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1] == (
        f"{extra}: error: {'ner.serve' if extra == 'serve' else 'ner.beam and its jobs'}"
        f": the '{extra}' extra is not installed (missing: {missing}); pip install "
        f"'bert-ner-tf[{extra}]', or pip install -e '.[{extra}]' in a checkout")
    assert "Traceback" not in run.stderr


# Python code that makes Beam unimportable but leaves it findable, so that
# ner.beam's check for its extra passes; then runs argv as `python -m`.
_BEAM_UNIMPORTABLE = (
    "import builtins, runpy, sys\n"
    "real = builtins.__import__\n"
    "def guarded(name, *args, **kwargs):\n"
    "    if name.split('.')[0] == 'apache_beam':\n"
    "        raise ImportError(name)\n"
    "    return real(name, *args, **kwargs)\n"
    "builtins.__import__ = guarded\n"
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n")


@pytest.mark.parametrize("module, flag, code", [
    ("ner.train", "--output_dir", _without("tensorflow")),
    ("ner.export", "--export_dir", _without("tensorflow")),
    ("ner.precision", "--model_dir", _without("tensorflow")),
    ("ner.beam", "--num_shards", _BEAM_UNIMPORTABLE),
])
def test_help_answers_before_tensorflow_is_imported(repo_root, module, flag, code):
    """The commands that import TensorFlow (or Apache Beam) at module level answer
    `--help` without it (made unimportable here): at once, not after an import of
    several seconds."""
    run = subprocess.run([sys.executable, "-c", code, module, "--help"],
                         cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert flag in run.stdout and not run.stderr


@pytest.mark.parametrize("module", ["evaluation.report", "evaluation.curves", "ner.train"])
def test_help_imports_neither_tensorflow_nor_scikit_learn(repo_root, module):
    """`--help` answers before the slow imports: TensorFlow (5-7 s) and scikit-learn,
    which seqeval imports (1.2 s of `evaluation.report --help` before the `evaluation`
    package imported its modules lazily)."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", module, "--help"],
                         cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines()
                if line.startswith("import time:")}
    assert "evaluation" in imported or module.startswith("ner")  # the log is read
    assert not {"tensorflow", "sklearn", "seqeval"} & imported
