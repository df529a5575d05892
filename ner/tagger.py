"""Tag raw text with a trained model: `ner.Tagger` and `ner.Entity`.

Example (the model of `python -m ner.train --output_dir=runs/default`):
    >>> import ner
    >>> tagger = ner.Tagger.load("runs/default")  # a training output folder or its model/
    >>> text = "Angela Merkel met Emmanuel Macron in Paris on Tuesday. The EU summit ends today."
    >>> for entity in tagger.tag(text):
    ...     print(entity.label, entity.start, entity.end, repr(entity.text), round(entity.score, 3))
    PER 0 13 'Angela Merkel' 1.0
    PER 18 33 'Emmanuel Macron' 1.0
    LOC 37 42 'Paris' 1.0
    ORG 59 61 'EU' 0.999

How text becomes entities (words, sentences, windows, potentials, decoding,
offsets) is `ner.pipeline`, the same TensorFlow functions that the exported
SavedModel runs; the tagger converts Python strings in and builds `Entity`
objects out. `tag_tokens` enters the pipeline with pre-split words
(CoNLL-style input) and returns one label per word.

"""

from __future__ import annotations

import dataclasses
import numbers
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from ner import precision as precisions
from ner import schemes
from ner.model import CONFIG_FILE, VOCAB_FILE, TaggerModel, read_meta
from ner.pipeline import Pipeline
from ner.tokenization import Tokenizer, ragged_words, text_batch

__all__ = ["Entity", "Tagger", "resolve_model_dir", "word_inputs"]

# Texts per pipeline call of `tag_batch`: bounds memory for huge batches;
# chunks are independent, so results do not depend on it.
_TEXTS_PER_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class Entity:
    """One entity found in a text.

    Attributes:
        label: the entity type, e.g. "PER" (never "B-PER").
        start: character offset of its first character in the text passed
            to `Tagger.tag` (a Python `str` index).
        end: character offset just after its last character (exclusive).
        text: `text[start:end]`, with no leading or trailing whitespace.
        score: probability under the CRF, in [0, 1], that exactly these words
            carry exactly this labelling (e.g. B-PER I-PER).
    """

    label: str
    start: int
    end: int
    text: str
    score: float


def check_vocab_size(lines: int, vocab_size: int, vocab: Path, config: Path,
                     remedy: str = "copy the model folder again") -> None:
    """Raises ValueError when a vocab.txt cannot be the vocabulary of the weights.

    More wordpieces than the encoder's embedding rows would look up rows that
    do not exist; far fewer (under half) is a cut-down or foreign file, which
    loads and then tags with the wrong ids. A few fewer is allowed: some
    encoders pad their vocab_size past the vocabulary's end.

    Args:
        lines: wordpieces in `vocab`.
        vocab_size: the encoder's, as `config` states it.
        remedy: what to do about a cut-down or foreign vocabulary.
    """
    where = f"{vocab}: {lines:,} wordpieces"
    if lines > vocab_size:
        raise ValueError(f"{where}, more than the encoder's vocab_size {vocab_size:,} "
                         f"({config}): the vocabulary does not belong to these weights")
    if lines < vocab_size // 2:
        raise ValueError(f"{where}, far fewer than the encoder's vocab_size {vocab_size:,} "
                         f"({config}): a cut-down or foreign vocabulary; {remedy}")


class Tagger:
    """A trained model plus its tokenizer, for tagging text.

    Build one with `Tagger.load(model_dir)`.

    Args:
        model: the tagging model.
        tokenizer: its tokenizer (the model folder's vocab.txt and casing).
        batch_size: at most this many windows per encoder batch (fewer when
            their wordpieces would exceed `ner.pipeline.BATCH_TOKENS`).
    """

    def __init__(self, model: TaggerModel, tokenizer: Tokenizer, batch_size: int = 128):
        batch_size = _check_batch_size(batch_size)
        self.model = model
        self.tokenizer = tokenizer
        self.pipeline = Pipeline(model, tokenizer, batch_size=batch_size)
        self.config = model.config
        # "float32", "bfloat16" or "int8": how the encoder computes (`ner.precision`).
        self.precision = model.encoder.precision
        self.labels = list(model.config.labels)
        self.batch_size = batch_size
        # The model card (the folder's meta.json: versions, encoder, flags,
        # data, scores; see `ner.model.model_card`); None for a folder written
        # before cards existed, and for a tagger built from a model in memory.
        self.meta: dict | None = None

    @property
    def int8_ranges(self) -> str | None:
        """In int8, how the encoder's activations are quantized: "calibrated" (over
        the ranges `python -m ner.precision` recorded on the dev set, so a text's
        labels hardly depend on its batch) or "each batch's own" (a folder never
        checked, or changed since); None in other precisions."""
        if self.model.encoder.precision != "int8":
            return None
        return "calibrated" if self.model.encoder.int8_ranges else "each batch's own"

    # === Loading ===

    @classmethod
    def load(cls, model_dir: str | os.PathLike, batch_size: int = 128,
             precision: str = "float32") -> "Tagger":
        """Loads a model folder written by `python -m ner.train`.

        Args:
            model_dir: the model folder (tagger_config.json, vocab.txt,
                model.ckpt.*) or a training output folder holding `model/`.
            batch_size: at most this many windows per encoder batch.
            precision: how the encoder computes: "float32" (as trained),
                "bfloat16", "int8", or "auto": the fastest here among float32
                and those the folder's accuracy check accepted (`ner.precision`;
                float32 when it has none). The result is in `tagger.precision`.

        Returns:
            The tagger; its `meta` is the folder's model card (None if it has none).

        Raises:
            FileNotFoundError: no such folder, or it is neither a model folder
                nor a training output folder with a finished `model/`, or a
                file of the model folder is missing.
            ValueError: tagger_config.json, vocab.txt or meta.json is invalid,
                vocab.txt does not fit the encoder's vocab_size, the checkpoint
                is damaged, or the weights do not match the config (the message
                names the file); an unknown precision, or int8 where
                TensorFlow lacks it.
        """
        folder = resolve_model_dir(Path(model_dir))
        model = TaggerModel.load(folder)
        tokenizer = Tokenizer(folder / VOCAB_FILE, do_lower_case=model.config.do_lower_case)
        check_vocab_size(tokenizer.vocab_size, int(model.config.encoder["vocab_size"]),
                         folder / VOCAB_FILE, folder / CONFIG_FILE)
        precisions.choose(precision, model, folder)
        tagger = cls(model, tokenizer, batch_size=batch_size)
        tagger.meta = read_meta(folder)
        return tagger

    @property
    def entity_types(self) -> list[str]:
        """The entity types the model knows, e.g. ["LOC", "MISC", "ORG", "PER"]."""
        return sorted(self.pipeline.types)

    # === Public tagging API ===

    def tag(self, text: str) -> list[Entity]:
        """Entities of one text, in order of their start offset.

        Args:
            text: any Python string; empty or whitespace-only gives [].

        Returns:
            The entities.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        return self.tag_batch([text])[0]

    def tag_batch(self, texts: Iterable[str], batch_size: int | None = None) -> list[list[Entity]]:
        """Entities of each text; the same as `tag` on each text one by one.

        Args:
            texts: Python strings.
            batch_size: at most this many windows per encoder batch; defaults
                to the tagger's.

        Returns:
            Per text, its entities in order of their start offset.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str (a batch); wrap a single text in a list")
        if isinstance(texts, tf.Tensor) and texts.dtype == tf.string and texts.shape.rank == 1:
            # Offsets count characters of Python strings: decode (UTF-8) first.
            texts = [t.decode("utf-8", "replace") for t in texts.numpy().tolist()]
        texts = list(texts)
        batch = text_batch(texts)  # [B]; checks types, naming a bad item's position
        size = tf.constant(self._batch_size(batch_size), tf.int32)
        out: list[list[Entity]] = []
        for first in range(0, len(texts), _TEXTS_PER_CHUNK):
            chunk = texts[first:first + _TEXTS_PER_CHUNK]
            found = self.pipeline.entities(batch[first:first + _TEXTS_PER_CHUNK], size)
            result: list[list[Entity]] = [[] for _ in chunk]
            columns = [found[key].numpy().tolist() for key in
                       ("text_id", "labels", "char_starts", "char_ends", "scores")]
            for t, label, start, end, score in zip(*columns):
                # text[start:end], not the graph's entity text: a lone surrogate
                # stays what the user passed.
                result[t].append(Entity(label.decode(), start, end, chunk[t][start:end], score))
            out += result
        return out

    def tag_tokens(self, sentences: Sequence[Sequence[str]], batch_size: int | None = None,
                   documents: Sequence[int] | None = None,
                   scheme: str | None = None) -> list[list[str]]:
        """One label per word for pre-tokenised sentences (CoNLL-style input).

        Args:
            sentences: per sentence, its words (`str`). Every word gets a
                label, even one with no wordpieces (it is read as "[UNK]").
            batch_size: at most this many windows per encoder batch; defaults
                to the tagger's.
            documents: per sentence, the index of its document; with a model
                trained with `document_context`, neighbouring sentences of the
                same document are context. None: each sentence alone.
            scheme: spell the labels in this tag scheme ("IOB2", "BIOES", ...,
                as `ner.schemes.scheme_name`); None: the model's
                (`config.scheme`, IOB2 unless trained with `--tag_scheme`).

        Returns:
            Per sentence, a label (e.g. "B-PER") for each word; the sequences
            are valid in that scheme.
        """
        words, lengths, docs = word_inputs(sentences, documents)
        if not len(lengths):
            return []
        tags = self.pipeline.word_tags(words, lengths, docs,
                                       tf.constant(self._batch_size(batch_size), tf.int32))
        labels = np.asarray(self.labels, dtype=object)[tags.numpy()]
        return schemes.respell(np.split(labels, np.cumsum(lengths)[:-1]), self.config.scheme,
                               scheme)

    def split_sentences(self, text: str) -> list[tuple[int, int]]:
        """How `tag` splits a text into sentences, as character spans.

        Args:
            text: a Python string.

        Returns:
            (start, end) character offsets of each sentence, from the start of
            its first word to the end of its last word.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        _, starts, ends = self.pipeline.sentences(text_batch([text]))
        return list(zip(starts.numpy().tolist(), ends.numpy().tolist()))

    def _batch_size(self, batch_size: int | None) -> int:
        return self.batch_size if batch_size is None else _check_batch_size(batch_size)


def word_inputs(sentences: Sequence[Sequence[str]], documents: Sequence[int] | None
                ) -> tuple[tf.Tensor, np.ndarray, np.ndarray]:
    """Checks and converts `tag_tokens`' arguments for the pipeline's `word_tags`.

    Returns:
        (words string [N], words per sentence int64 [S], document of each
        sentence int64 [S]; each sentence its own document when None).
    """
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of word lists, got a single string")
    sentences = list(sentences)
    if documents is not None:
        documents = list(documents)
        for i, doc in enumerate(documents):
            if isinstance(doc, bool) or not isinstance(doc, numbers.Integral):
                raise TypeError(f"documents[{i}] must be an int (the index of the sentence's "
                                f"document), got {doc!r}; number string ids first")
        if len(documents) != len(sentences):
            raise ValueError(f"documents has {len(documents)} entries for "
                             f"{len(sentences)} sentences")
    if not sentences:
        return tf.zeros([0], tf.string), np.zeros(0, np.int64), np.zeros(0, np.int64)
    words = ragged_words(sentences, name="sentences")  # [S, (W)]
    docs = np.arange(len(sentences)) if documents is None else np.asarray(documents, np.int64)
    return words.flat_values, words.row_lengths().numpy(), docs


def _check_batch_size(batch_size: int) -> int:
    # NumPy integers are integers; True is not a size.
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def resolve_model_dir(path: Path) -> Path:
    """The model folder for `path`: itself, or its `model/` subfolder."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model folder")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a folder; expected a model folder "
                                f"({CONFIG_FILE}, {VOCAB_FILE}, model.ckpt.*) or a training "
                                f"output folder holding model/")
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / "model" / CONFIG_FILE).is_file():
        return path / "model"
    if (path / "checkpoints").is_dir() or (path / "tensorboard").is_dir():
        raise FileNotFoundError(f"{path}: a training output folder without model/{CONFIG_FILE}; "
                                f"the best model is written there after the first epoch")
    raise FileNotFoundError(f"{path}: not a model folder: neither {path / CONFIG_FILE} nor "
                            f"{path / 'model' / CONFIG_FILE} exists")
