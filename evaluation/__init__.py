"""Entity-level evaluation of NER output: conlleval-compatible metrics and a report.

``evaluation.metrics`` scores (seqeval's P/R/F1 in conlleval's layout),
``evaluation.analysis`` adds the error analysis (``evaluate(...) -> dict``),
``evaluation.render`` renders it, and ``evaluation.report`` is the command
line (``python -m evaluation.report``). The command line is not imported
here, so that running it with ``-m`` does not import the module twice. Tag
schemes and entity chunking live in ``ner.schemes``.
"""

from evaluation.analysis import evaluate
from evaluation.metrics import classification_report, format_conlleval, strict_entities
from evaluation.render import format_report

__all__ = ["classification_report", "evaluate", "format_conlleval", "format_report",
           "strict_entities"]
