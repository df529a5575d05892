"""What the command lines share: a `--help` without TensorFlow's start-up lines,
that exits 0, and one wording for an extra that is not installed.

TensorFlow 2.21 writes a few lines to stderr when it is first imported
(oneDNN, CUDA drivers, CPU features) through absl's C++ logging, which
`TF_CPP_MIN_LOG_LEVEL` does not reach at that point. `python -m ner.train`
and `python -m ner.export` import it at module level, before absl has parsed
`--help`, so those lines would stand in front of the usage text.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Callable, Sequence

# absl's help flags (`--help`, `-?`, `--helpfull`, ...) and argparse's `-h`.
_HELP_FLAGS = frozenset({"help", "helpshort", "helpfull", "helpxml", "?", "h"})


def wants_help(argv: Sequence[str]) -> bool:
    """True when the command line (`sys.argv`) asks for help."""
    return any(a.startswith("-") and a.lstrip("-").split("=")[0] in _HELP_FLAGS for a in argv[1:])


def quiet_tensorflow_for_help(module_name: str) -> None:
    """Imports TensorFlow with stderr closed, for a help request only.

    Call it before the module's first TensorFlow import, with the module's
    `__name__`. It does nothing unless that module is the program and the
    command line asks for help: a real run shows all of TensorFlow's messages.
    """
    if module_name != "__main__" or not wants_help(sys.argv):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        import tensorflow  # noqa: F401  (later imports find it loaded and log nothing)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_absl(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, except that a help request exits 0.

    absl's help flags print the usage and exit 1, which a script running
    `python -m ner.train --help && ...` takes for a failure (argparse, which
    the other commands use, exits 0).
    """
    from absl import app

    try:
        app.run(main)
    except SystemExit as e:
        if e.code == 1 and wants_help(sys.argv):
            raise SystemExit(0) from None
        raise


def missing_extra(extra: str, modules: Sequence[str], what: str) -> str | None:
    """None when `modules` import; else a message naming `extra` and how to install it.

    Args:
        extra: the extra of `setup.cfg`, e.g. "serve".
        modules: the top-level modules it provides.
        what: what needs them, e.g. "HTML pages".
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"{what}: the '{extra}' extra is not installed (missing: {', '.join(missing)}); "
            f"pip install 'bert-ner-tf[{extra}]', or pip install -e '.[{extra}]' in a checkout")
