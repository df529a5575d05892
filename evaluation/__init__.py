"""Entity-level evaluation of NER output (conlleval-compatible metrics and a report CLI).

The report command lives in :mod:`evaluation.report` (``python -m
evaluation.report``); it is not imported here, so that running it with ``-m``
does not import the module twice.
"""

from evaluation.metrics import (SCHEMES, classification_report, format_conlleval, get_entities,
                                strict_entities)

__all__ = ["SCHEMES", "classification_report", "format_conlleval", "get_entities",
           "strict_entities"]
