"""Atomic writes: a reader sees the old file or folder or the complete new one.

Everything is written beside its target and renamed into place (`os.replace`
is atomic within one file system), so a run killed mid-write leaves no
half-written model, checkpoint, report or SavedModel behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator


def _partial(target: Path) -> Path:
    # Not tempfile.mkdtemp/mkstemp: their 0700/0600 modes would hide a model
    # from a server running as another user; these get the umask's permissions.
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Yields an empty folder beside `target` that becomes `target` when the block ends.

    With `replace`, an existing `target` is renamed aside first and deleted only
    once the new folder is in place, so one complete copy exists at every moment.
    Without it, an existing `target` is never replaced: `FileExistsError`.
    If the block raises, the partial folder is deleted and `target` is untouched.

    Example:
        >>> with atomic_folder("runs/model") as tmp:
        ...     (tmp / "config.json").write_text("{}")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial(target)
    shutil.rmtree(tmp, ignore_errors=True)  # left by a killed process of the same id
    tmp.mkdir()
    old = None
    try:
        yield tmp
        if target.exists():
            if not replace:
                raise FileExistsError(f"{target} exists already")
            old = target.with_name(target.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Writes a UTF-8 text file through a file beside it and `os.replace`."""
    path = Path(path)
    tmp = _partial(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_text(value: Any) -> str:
    """`value` as indented JSON with sorted keys and a final newline."""
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def write_json_atomically(path: str | os.PathLike, value: Any) -> None:
    write_text_atomically(path, json_text(value))
