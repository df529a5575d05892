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
"""

from evaluation.analysis import evaluate
from evaluation.metrics import classification_report, format_conlleval, strict_entities
from evaluation.render import format_report

__all__ = ["classification_report", "evaluate", "format_conlleval", "format_report",
           "strict_entities"]
