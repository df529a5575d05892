"""Atomic writes, and the reading of the JSON files they write.

A reader sees the old file or folder or the complete new one: everything is
written beside its target and renamed into place (`os.replace` is atomic
within one file system), so a run killed mid-write leaves no half-written
model, checkpoint, report or SavedModel behind. A JSON file that is read
back (configs, model cards, checkpoints' state, export settings) goes through
`read_json_object`, so that a hand-edited or foreign one is named with its
line, not met as a traceback.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Iterator


def _partial(target: Path) -> Path:
    # Not tempfile.mkdtemp/mkstemp: their 0700/0600 modes would hide a model
    # from a server running as another user; these get the umask's permissions.
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2  # linux/fs.h


def _renameat2(a: Path, b: Path, flags: int) -> bool | None:
    """Linux `renameat2(a, b, flags)`: True when done, False when `b` exists (with
    RENAME_NOREPLACE), None where the system or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return None
    if code == errno.EEXIST and flags == _RENAME_NOREPLACE:
        return False
    raise OSError(code, os.strerror(code), str(b))


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where
    the system or the file system cannot."""
    return bool(_renameat2(a, b, _RENAME_EXCHANGE))


def _rename_unless_taken(a: Path, b: Path) -> bool:
    """Renames folder `a` to `b` unless `b` exists: False then. In one step on Linux
    (`renameat2(RENAME_NOREPLACE)`), so two processes cannot both take `b`."""
    done = _renameat2(a, b, _RENAME_NOREPLACE)
    if done is not None:
        return done
    if b.exists():
        return False
    try:
        os.rename(a, b)  # fails onto a folder that is not empty
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True


def recover_folder(target: str | os.PathLike) -> bool:
    """Puts back `target` from `target.old` where a kill left only the old copy.

    Where the two paths cannot be swapped in one step (`_exchange`), replacing
    a folder is two renames, and a process killed between them leaves
    `target.old` and no `target`. Readers of a folder that may be replaced
    (training's `--resume`) call this first. Returns whether it recovered.
    """
    target = Path(target)
    old = target.with_name(target.name + ".old")
    if target.exists() or not old.is_dir():
        return False
    os.replace(old, target)
    return True


def remove_stale_partials(folder: str | os.PathLike, name: str | None = None) -> None:
    """Deletes the partial folders in `folder` of `atomic_folder` targets named
    `name` (None: any name) that processes no longer running left: an export
    folder's killed versions, whatever version the next export writes."""
    pattern = re.compile(rf"\.({re.escape(name) if name else '.+'})\.partial-(\d+)$")
    for path in Path(folder).glob(f".{name or '*'}.partial-*"):
        match = pattern.match(path.name)
        pid = int(match.group(2)) if match else None
        if pid and pid != os.getpid() and not _running(pid) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, replace: bool = True,
                  next_target: Callable[[], Path] | None = None) -> Iterator[Path]:
    """Yields an empty folder beside `target` that becomes `target` when the block ends.

    With `replace`, an existing `target` is swapped with the new folder in one
    step where the system can (`renameat2` on Linux); elsewhere it is renamed
    aside first, so that a kill between the two renames leaves `target.old`,
    which `recover_folder` puts back. Either way one complete copy exists at
    every moment. Without `replace`, an existing `target`, even one that
    another process made while the block ran, is never replaced:
    `FileExistsError`, or, given `next_target`, the folder becomes the path it
    returns instead (asked again while that one is taken too; e.g. the next
    free version number). If the block raises, the partial folder is deleted
    and `target` is untouched. Partial folders of killed processes are deleted.

    Example:
        >>> with atomic_folder("runs/model") as tmp:
        ...     (tmp / "config.json").write_text("{}")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(target)
    remove_stale_partials(target.parent, target.name)
    tmp = _partial(target)
    shutil.rmtree(tmp, ignore_errors=True)  # left by a killed process of the same id
    tmp.mkdir()
    old = None
    try:
        yield tmp
        if not replace:
            while not _rename_unless_taken(tmp, target):
                if next_target is None:
                    raise FileExistsError(f"{target} exists already")
                target = next_target()
        elif target.exists():
            if _exchange(tmp, target):
                old = tmp  # now the previous copy
            else:
                old = target.with_name(target.name + ".old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                os.replace(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        if old is not tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old)


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Writes a UTF-8 text file through a file beside it and `os.replace`."""
    path = Path(path)
    tmp = _partial(path)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
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


def read_json_object(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object that the file at `path` holds.

    Raises:
        FileNotFoundError (an OSError): no such file.
        ValueError: the file is not UTF-8, not valid JSON, or holds something
            other than an object; the message names the file (and the line).
    """
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):  # as some editors write
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got {json_type(value)}")
    return value


def json_type(value: Any) -> str:
    """How a JSON value's type reads in an error message: "a number", "null", ..."""
    for kind, name in ((bool, "a boolean"), (int, "a number"), (float, "a number"),
                       (str, "a string"), (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null"
