"""What the command lines share: a `--help` without TensorFlow's start-up lines.

TensorFlow 2.21 writes a few lines to stderr when it is first imported
(oneDNN, CUDA drivers, CPU features) through absl's C++ logging, which
`TF_CPP_MIN_LOG_LEVEL` does not reach at that point. `python -m ner.train`
and `python -m ner.export` import it at module level, before absl has parsed
`--help`, so those lines would stand in front of the usage text.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

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
