"""The evaluation report's command line: ``python -m evaluation.report``.

Either on another system's output in CoNLL columns (``word ... gold pred``)::

    python -m evaluation.report --predictions_in=system.txt --output=report.json

or by tagging a CoNLL file with a trained model (``ner.Tagger``; gold tags are
read by ``ner.data.read_conll`` and scored in IOB2; a ``.jsonl``, ``.json`` or
``.ndjson`` file of texts with character-offset spans is read as
``python -m ner.train`` reads it, ``ner.spans``; each sentence is tagged
with its document, so a model trained with document context sees its
neighbouring sentences, as in training)::

    python -m evaluation.report --model_dir=runs/bert --data=data/conll2003/test.txt \\
        --predictions=test.pred.txt --output=report.json

``--html=report.html`` also writes the report as one self-contained page
(charts, the confusion heat map, every sentence with an error highlighted;
:mod:`evaluation.html`, which needs the ``html`` extra). The text, the JSON
and the page render the same :func:`evaluation.analysis.evaluate` dict.

The printed overall and per-type numbers are those ``conlleval.pl`` prints for
the ``--predictions`` file (tags there are IOB2, the scheme every input is
converted to before scoring). Bad input ends with one line on stderr,
``report: error: FILE:LINE: ...``, and exit status 2.

This module only reads files, calls :func:`evaluation.analysis.evaluate` (the
report's content is documented there) and prints
:func:`evaluation.render.format_report`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

from ner import cli, schemes

#: Sentences with errors on the HTML page by default: every one for a usable
#: model on CoNLL-2003 test (a few hundred), a bounded page (some 4 KB each)
#: for a weak model or a large file.
HTML_SENTENCES = 1000


def _valid_scheme(value: str) -> bool:
    try:
        schemes.scheme_or_auto(value)
    except ValueError:
        return False
    return True


def _define_flags() -> None:
    # Defined only when run as a program, so importing this module leaves
    # absl's global FLAGS alone (ner.train defines its own).
    from absl import flags
    flags.DEFINE_string("predictions_in", None,
                        "Evaluate this file: CoNLL columns 'word ... gold pred', blank lines "
                        "between sentences.")
    flags.DEFINE_string("model_dir", None, "Trained model to tag --data with.")
    flags.DEFINE_string("data", None, "File with gold tags, tagged by --model_dir: CoNLL, or "
                        "texts with character-offset spans (.jsonl, .json or .ndjson, as "
                        "python -m ner.train reads them).")
    flags.DEFINE_enum("precision", "float32", ["auto", "float32", "bfloat16", "int8"],
                      "How --model_dir's encoder computes (python -m ner.precision).")
    flags.DEFINE_string("scheme", "auto", "Tagging scheme of the input: auto (detected from the "
                        f"gold column), {', '.join(schemes.SCHEMES)}, or BIO / IOBES (the same as "
                        "IOB2 / BIOES), in any case.")
    flags.register_validator("scheme", _valid_scheme,
                             "--scheme: expected auto, " + ", ".join(schemes.SCHEMES)
                             + ", BIO or IOBES")
    flags.DEFINE_string("output", None, "Write the report as JSON here.")
    flags.DEFINE_string("predictions", None,
                        "Write 'word gold pred' lines (IOB2, conlleval's input) here.")
    flags.DEFINE_integer("examples", 3, "Examples shown per error class.", lower_bound=0)
    flags.DEFINE_string("html", None, "Write the report as one self-contained HTML page here "
                        "(needs the 'html' extra).")
    flags.DEFINE_integer("html_sentences", HTML_SENTENCES,
                         "The HTML page shows at most this many sentences with errors, the "
                         "worst first (0: all; a page of many thousands is slow to open).",
                         lower_bound=0)


# Before seqeval (through evaluation.analysis), which imports scikit-learn: 1.2 s.
cli.answer_help_first(__name__, define_flags=_define_flags)

from evaluation.analysis import evaluate, fill_predictions  # noqa: E402
from evaluation.render import format_report  # noqa: E402
from ner import files  # noqa: E402
from ner.data import (count_docstart_lines, document_ids, read_conll, read_predictions,  # noqa: E402
                      sentences, write_predictions)

__all__ = ["InputError", "main", "run"]


class InputError(ValueError):
    """A file or folder named on the command line that cannot be used.

    ``str()`` is ``"PATH: message"``.
    """

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "a folder, where a file is expected")


def _tag_with_model(model_dir: str, data_path: str, scheme: str, precision: str = "float32"
                    ) -> tuple[list[list[str]], list[list[str]], list[list[str]], str, list]:
    """Tags ``data_path`` with the model in ``model_dir``: ``(tokens, gold, pred)``, all
    IOB2, the precision the encoder ran in (what ``auto`` chose), and the
    file's documents (whose `scheme` says what it held before it was read as IOB2).

    ``ner.data.read_conll`` reads the gold tags in ``scheme`` and hands them
    back in IOB2; predictions in BIOES (a model trained that way) are
    rewritten to IOB2 too, so the scores use IOB2 throughout.
    """
    _check_file(data_path)
    if not os.path.isdir(model_dir):
        raise InputError(model_dir, "no such model directory")
    # Imported here so that evaluating a prediction file never needs TensorFlow.
    try:
        from ner import Tagger
    except ImportError as exc:
        raise ValueError(f"--model_dir needs ner.Tagger: {exc}") from None
    from ner import spans
    span_file = spans.is_span_file(data_path)
    if not span_file:
        documents = read_conll(data_path, scheme=scheme)  # its errors before loading the model
    try:
        tagger = Tagger.load(model_dir, precision=precision)
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(model_dir, f"cannot load model: {exc}") from None
    if span_file:
        # Texts with character-offset spans, as `python -m ner.train` reads
        # them: split into words by the model's tokenizer, as it tags texts.
        documents = spans.read_spans(data_path, tagger.tokenizer)
    tokens = [list(sentence.tokens) for sentence in sentences(documents)]
    gold = [list(sentence.tags) for sentence in sentences(documents)]
    unknown = sorted({tag[2:] for tags in gold for tag in tags if tag != "O"}
                     - set(tagger.entity_types))
    if unknown:
        # Data of another label set (training refuses it; a report scores it).
        print(f"report: warning: {data_path} has entity types the model does not tag "
              f"({', '.join(unknown)}; the model's: {', '.join(tagger.entity_types)}): every "
              f"entity of those types counts as missed", file=sys.stderr)
    pred = tagger.tag_tokens(tokens, documents=document_ids(documents), scheme="IOB2")
    return tokens, gold, pred, tagger.precision, documents


def scored_model(model_dir: str | os.PathLike, data: str | os.PathLike, precision: str,
                 documents: list) -> dict:
    """The ``model`` entry of a report: what was scored, so that scores of two
    precisions are told apart, and the header names a scheme the data file
    was converted from (``data_scheme``, its documents' ``scheme``)."""
    return {"model_dir": str(model_dir), "data": str(data), "precision": precision,
            "data_scheme": documents[0].scheme}


def run(*, predictions_in: str | None = None, model_dir: str | None = None,
        data: str | None = None, scheme: str = "auto", examples: int = 3,
        output: str | None = None, predictions: str | None = None,
        html: str | None = None, precision: str = "float32",
        html_sentences: int | None = HTML_SENTENCES) -> dict:
    """What ``python -m evaluation.report`` does, minus the printing.

    Args:
        predictions_in: str, a ``word ... gold pred`` file to evaluate; or
        model_dir, data: str, a trained model and a CoNLL file it tags.
        scheme: str, ``"auto"`` or one of ``ner.schemes.SCHEMES``.
        examples: int, examples kept per error class.
        output: str, optional path for the JSON report.
        predictions: str, optional path for ``word gold pred`` lines (IOB2).
        html: str, optional path for the HTML page (:func:`evaluation.html.report_page`).
        precision: str, how ``model_dir``'s encoder computes (``ner.precision``).
        html_sentences: int, the most sentences with errors the HTML page
            shows (the worst first); None for all.

    Returns:
        dict from :func:`evaluation.analysis.evaluate`.

    Raises:
        InputError: a missing file, an unusable model folder, an unwritable
            output. ner.data.ConllFormatError: a bad input file, naming the
            line. ValueError: bad flags or tags. evaluation.html.MissingExtraError
            (an ImportError): ``html`` without the ``html`` extra, before any work.
    """
    scheme = schemes.scheme_or_auto(scheme)
    if bool(predictions_in) == bool(model_dir or data):
        raise ValueError("give either --predictions_in=FILE or --model_dir=DIR --data=FILE")
    if html:
        from evaluation.html import require_extra
        require_extra()  # before minutes of tagging, not after
    for path, flag in ((output, "--output"), (predictions, "--predictions"), (html, "--html")):
        if path:
            _check_writable(path, flag)
    if predictions_in:
        _check_file(predictions_in)
        tokens, gold, pred = read_predictions(predictions_in, scheme)
    else:
        if not (model_dir and data):
            raise ValueError("--model_dir and --data go together")
        tokens, gold, pred, chosen, documents = _tag_with_model(model_dir, data, scheme,
                                                                precision)
        scheme = "IOB2"
    result = evaluate(gold, pred, tokens, scheme=scheme, examples=examples)
    if predictions_in:
        result["docstart_lines"] = count_docstart_lines(predictions_in)
    else:
        result["model"] = scored_model(model_dir, data, chosen, documents)
    if predictions:
        def iob2(sequences):
            return [schemes.convert(tags, result["scheme"], "IOB2", strict=False)
                    for tags in sequences]
        with _writing(predictions):
            write_predictions(predictions, tokens, iob2(gold),
                              iob2(fill_predictions(gold, pred)[0]))
    if output:
        with _writing(output):
            files.write_text_atomically(output, json.dumps(result, indent=2) + "\n")
    if html:
        from evaluation.html import report_page, write_page
        sources = [("model", model_dir), ("data", data),
                   ("precision", result["model"]["precision"])] if model_dir else [
            ("predictions", predictions_in)]
        name = os.path.basename(data or predictions_in or "")
        with _writing(html):
            write_page(html, report_page(result, tokens, gold, pred, sources=sources,
                                         max_examples=html_sentences,
                                         title=f"NER evaluation: {name}"))
    return result


def _check_writable(path: str, flag: str) -> None:
    """Raises `InputError` now, before any tagging, if `path` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InputError(path, f"is a folder; {flag} names a file")
    if not os.path.isdir(folder):
        raise InputError(path, f"cannot write: no such folder {folder} ({flag})")
    if not os.access(folder, os.W_OK):
        raise InputError(path, f"cannot write: folder {folder} is not writable ({flag})")


@contextlib.contextmanager
def _writing(path: str):
    """Turns an `OSError` writing `path` (or the temporary file beside it) into `InputError`."""
    try:
        yield
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None


def main(argv: list[str]) -> None:
    """Entry point for ``absl.app.run``: prints the report, or one error line and exits 2."""
    from absl import flags
    options = flags.FLAGS
    try:
        if len(argv) > 1:
            raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
        result = run(predictions_in=options.predictions_in, model_dir=options.model_dir,
                     data=options.data, scheme=options.scheme, examples=options.examples,
                     output=options.output, predictions=options.predictions,
                     html=options.html, precision=options.precision,
                     html_sentences=options.html_sentences or None)
    except (ValueError, OSError, ImportError) as exc:
        # One line, no traceback: the message names file and line already.
        message = " ".join(str(exc).split())
        print(f"report: error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(format_report(result))


if __name__ == "__main__":
    _define_flags()
    cli.run_absl(main)
