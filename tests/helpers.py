"""Small helpers shared by several test modules (plain functions, not fixtures)."""

import subprocess
import sys
from pathlib import Path


def write_text_file(folder: Path, text: str, name: str = "pred.txt") -> str:
    """Writes `text` (UTF-8) to `folder / name`, e.g. a CoNLL sample; returns the path as str."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_report_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    """Runs `python -m evaluation.report *args` in `cwd`; text output captured, 120 s limit."""
    return subprocess.run([sys.executable, "-m", "evaluation.report", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
