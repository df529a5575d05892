"""Entity-level evaluation of NER output: conlleval-compatible metrics and a report.

``evaluation.metrics`` scores (seqeval's P/R/F1 in conlleval's layout),
``evaluation.analysis`` adds the error analysis (``evaluate(...) -> dict``),
``evaluation.render`` renders it as text and ``evaluation.html`` as a web
page (charts from ``evaluation.charts``; also tagged text), and
``evaluation.report`` is the command line (``python -m evaluation.report``).
``evaluation.curves`` renders a training run's log (``python -m
evaluation.curves``). The command lines are not imported here, so that
running them with ``-m`` does not import a module twice, nor are the HTML
modules, whose packages (the ``html`` extra) training does not need. Tag
schemes and entity chunking live in ``ner.schemes``.

The names below are imported on first use (PEP 562): seqeval imports
scikit-learn, about a second, which ``python -m evaluation.report --help``
and the other command lines' help should not wait for.
"""

import importlib

_HOMES = {"evaluate": "evaluation.analysis", "classification_report": "evaluation.metrics",
          "format_conlleval": "evaluation.metrics", "strict_entities": "evaluation.metrics",
          "format_report": "evaluation.render"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
