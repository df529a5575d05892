"""What the command lines share: a `--help` that answers before TensorFlow is
imported and exits 0, and one wording for an extra that is not installed.

`python -m ner.train`, `ner.export` and `ner.precision` import TensorFlow at
module level, which takes seconds and writes a few lines to stderr (oneDNN,
CUDA drivers, CPU features) through absl's C++ logging, which
`TF_CPP_MIN_LOG_LEVEL` does not reach at that point. `answer_help_first`,
called before that import, prints the help without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Callable, Sequence

# absl's help flags (`--help`, `-?`, `--helpfull`, ...) and argparse's `-h`.
_HELP_FLAGS = frozenset({"help", "helpshort", "helpfull", "helpxml", "?", "h"})


def wants_help(argv: Sequence[str]) -> bool:
    """True when the command line (`sys.argv`) asks for help."""
    return any(a.startswith("-") and a.lstrip("-").split("=")[0] in _HELP_FLAGS for a in argv[1:])


def answer_help_first(module_name: str, define_flags: Callable[[], None] | None = None,
                      parser: Callable[[], argparse.ArgumentParser] | None = None) -> None:
    """Prints the program's help and exits 0, before TensorFlow is imported.

    Call it before the module's first TensorFlow import, with the module's
    `__name__` and either the function that defines its absl flags or one that
    builds its argparse parser; neither may need TensorFlow. It does nothing
    unless that module is the program and the command line asks for help, so
    that `--help` answers at once (with TensorFlow's import it took 5-7 s) and shows
    none of TensorFlow's start-up lines.
    """
    if module_name != "__main__" or not wants_help(sys.argv):
        return
    if parser is not None:
        parser().parse_args(sys.argv[1:])  # prints the help and exits 0
    else:
        define_flags()
        run_absl(lambda argv: None)  # absl prints the help for a help flag and exits
    raise SystemExit(0)


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
