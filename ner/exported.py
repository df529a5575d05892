"""Tag with an exported SavedModel through the `ner.Tagger` interface.

`python -m ner.export` writes a SavedModel version folder whose signatures are
`ner.pipeline`'s own functions. `ExportedTagger` calls those signatures and
gives back what `ner.Tagger` gives: `tag_batch(texts) -> list[list[Entity]]`
and `tag_tokens(sentences, documents=...) -> labels per word`. It adds no
tagging logic of its own (no windows, no decoding, no offsets): it converts
Python strings in and builds `Entity` objects out, as `ner.Tagger` does.
It needs `tensorflow` and `tensorflow_text` (whose ops the graph uses), not
the model folder's checkpoint or vocabulary.

`load_tagger(model_dir)` picks the right one for any folder the command-line
tools accept:

    >>> from ner.exported import load_tagger
    >>> tagger = load_tagger("exported/ner/1")    # or "runs/default", or "runs/default/model"
    >>> tagger.tag_batch(["Angela Merkel visited Paris."])
    [[Entity(label='PER', start=0, end=13, ...), Entity(label='LOC', start=22, end=27, ...)]]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from ner import files, schemes
from ner.model import CONFIG_FILE
from ner.tagger import Entity, Tagger, word_inputs
from ner.tokenization import text_batch

__all__ = ["ExportedTagger", "exported_precision", "is_saved_model", "load_tagger"]

SAVED_MODEL_FILE = "saved_model.pb"
# In a SavedModel's assets/: what `python -m ner.export` fixed in the graph.
EXPORT_FILE = "export.json"
# Where an int8 SavedModel runs: TensorFlow registers the kernel of its
# QuantizedMatMulWithBiasAndDequantize op with oneDNN only (with
# TF_ENABLE_ONEDNN_OPTS=0 a call fails with "Missing 0-th output").
INT8_NOTE = ("an int8 SavedModel runs only on a TensorFlow with oneDNN's CPU int8 kernels "
             "(the x86-64 Linux wheels, with TF_ENABLE_ONEDNN_OPTS unset or 1); elsewhere "
             "(ARM, builds or settings without oneDNN) export float32 or bfloat16")
# Texts per signature call: bounds memory for huge batches, as in `ner.Tagger`.
_TEXTS_PER_CHUNK = 4096


def is_saved_model(path: str | os.PathLike) -> bool:
    """True for a SavedModel folder (one holding `saved_model.pb`)."""
    return (Path(path) / SAVED_MODEL_FILE).is_file()


def exported_precision(version_dir: str | os.PathLike) -> str | None:
    """The precision a SavedModel was exported in (`assets/export.json`), or None."""
    try:
        return files.read_json_object(Path(version_dir) / "assets" / EXPORT_FILE).get("precision")
    except (OSError, ValueError):
        return None


def load_tagger(model_dir: str | os.PathLike, precision: str = "auto") -> "Tagger | ExportedTagger":
    """A tagger for a training output folder, a model folder or a SavedModel version folder.

    Args:
        model_dir: a folder written by `python -m ner.train` (or its
            `model/`), or a version folder written by `python -m ner.export`
            (e.g. `exported/ner/1`).
        precision: for a model folder, as `ner.Tagger.load`; a SavedModel's
            was fixed at export, so only "auto" or that precision is accepted.

    Returns:
        `ner.Tagger` for a model folder, `ExportedTagger` for a SavedModel.

    Raises:
        FileNotFoundError: the folder is none of these (an export root holding
            version folders names them).
        ValueError: the model folder or SavedModel is invalid, or a SavedModel
            was exported with another precision than the one asked for.
    """
    from ner.precision import check_name

    check_name(precision)  # before any message suggests --precision=<it>
    path = Path(model_dir)
    if is_saved_model(path):
        fixed = exported_precision(path)
        # Said before the seconds of loading the graph.
        if precision not in ("auto", fixed):
            raise ValueError(
                f"{path}: exported with precision {fixed or 'unknown'}, fixed in the "
                f"graph; export again with python -m ner.export --precision={precision}, or "
                f"pass --precision=auto")
        return ExportedTagger.load(path)
    versions = sorted((p for p in path.iterdir() if p.name.isdigit() and is_saved_model(p)),
                      key=lambda p: int(p.name)) if path.is_dir() else []
    if versions:
        raise FileNotFoundError(
            f"{path}: an export folder holding SavedModel versions "
            f"{', '.join(p.name for p in versions)}; pass one version folder, e.g. {versions[-1]}")
    return Tagger.load(path, precision=precision)


class ExportedTagger:
    """`ner.Tagger`'s `tag_batch` and `tag_tokens` over a SavedModel's signatures.

    Build one with `ExportedTagger.load(version_folder)`. The number of
    windows per encoder batch was fixed when the model was exported
    (`python -m ner.export --window_batch_size`).

    Args:
        loaded: the object `tf.saved_model.load` returned.
        path: the folder it came from (for messages).
    """

    def __init__(self, loaded, path: str | os.PathLike):
        missing = {"serving_default", "tag_words"} - set(loaded.signatures)
        if missing:
            raise ValueError(f"{path}: a SavedModel without the signatures {sorted(missing)}; "
                             f"export it with python -m ner.export")
        self.path = Path(path)
        self._loaded = loaded  # keeps the signatures' variables alive
        self._texts = loaded.signatures["serving_default"]
        self._words = loaded.signatures["tag_words"]
        # How its encoder computes, fixed at export (`python -m ner.export
        # --precision`); None for an export that did not record it.
        self.precision = exported_precision(path)
        # The labels' tag scheme (`tagger_config.json`, copied into the assets
        # at export); IOB2 for an export without it.
        try:
            config = files.read_json_object(self.path / "assets" / CONFIG_FILE)
        except (OSError, ValueError):
            config = {}
        self.scheme = schemes.scheme_name(config.get("scheme", "IOB2"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ExportedTagger":
        """Loads a SavedModel version folder written by `python -m ner.export`."""
        # Registers the text ops the graph uses: the tokenizer's three op
        # libraries, not all of tensorflow_text's (92 MB less memory).
        from ner import text_ops  # noqa: F401

        if not is_saved_model(path):
            raise FileNotFoundError(f"{path}: not a SavedModel folder (no {SAVED_MODEL_FILE})")
        if exported_precision(path) == "int8":
            from ner.precision import int8_available

            if not int8_available():  # else the first call fails: "Missing 0-th output"
                raise ValueError(f"{path}: exported in int8, which this TensorFlow cannot run: "
                                 f"{INT8_NOTE}")
        return cls(tf.saved_model.load(str(path)), path)

    def tag_batch(self, texts: Iterable[str], batch_size: int | None = None) -> list[list[Entity]]:
        """Entities of each text, as `ner.Tagger.tag_batch`.

        Args:
            texts: Python strings.
            batch_size: must be None: the SavedModel's windows per encoder
                batch were fixed at export.

        Returns:
            Per text, its entities in order of their start offset.
        """
        _check_no_batch_size(batch_size)
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str (a batch); wrap a single text in a list")
        texts = list(texts)
        batch = text_batch(texts)  # [B]
        out: list[list[Entity]] = []
        for first in range(0, len(texts), _TEXTS_PER_CHUNK):
            chunk = texts[first:first + _TEXTS_PER_CHUNK]
            found = self._texts(texts=batch[first:first + _TEXTS_PER_CHUNK])  # [b, E] each
            counts = found["num_entities"].numpy().tolist()  # [b]
            columns = [found[key].numpy().tolist() for key in
                       ("labels", "char_starts", "char_ends", "scores")]
            for t, (text, count) in enumerate(zip(chunk, counts)):
                # text[start:end], not the graph's entity text: as `ner.Tagger`.
                out.append([Entity(label.decode(), start, end, text[start:end], score)
                            for label, start, end, score in
                            zip(*(column[t][:count] for column in columns))])
        return out

    def tag_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int | None = None,
                   documents: Sequence[int] | None = None,
                   scheme: str | None = None) -> list[list[str]]:
        """One label per word for pre-tokenised sentences, as `ner.Tagger.tag_tokens`.

        Args:
            sentences: per sentence, its words (`str`).
            batch_size: must be None (see `tag_batch`).
            documents: per sentence, the index of its document (context for a
                `document_context` model); None: each sentence alone.
            scheme: spell the labels in this tag scheme; None: the model's
                (`self.scheme`).

        Returns:
            Per sentence, a label (e.g. "B-PER") for each word.
        """
        _check_no_batch_size(batch_size)
        words, lengths, docs = word_inputs(sentences, documents)
        if not len(lengths):
            return []
        found = self._words(words=words, sentence_lengths=tf.constant(lengths, tf.int64),
                            documents=tf.constant(docs, tf.int64))
        labels = [label.decode() for label in found["labels"].numpy().tolist()]  # [N]
        ends = np.cumsum(lengths).tolist()
        return schemes.respell([labels[end - n:end] for n, end in zip(lengths.tolist(), ends)],
                               self.scheme, scheme)


def _check_no_batch_size(batch_size) -> None:
    if batch_size is not None:
        raise ValueError("an exported model's windows per encoder batch were fixed at export "
                         "(python -m ner.export --window_batch_size); pass batch_size=None")
