"""Tiny model folders for tests: a real `TaggerModel.save` folder in milliseconds.

Two kinds of weights, both deterministic (numpy, seeded):

* Rule weights (`rules` given): every attention and feed-forward output
  projection is zero and the position and segment embeddings are zero, so
  each transformer layer passes its input through unchanged and the encoder
  output of a wordpiece is LayerNorm(its word embedding): a function of the
  wordpiece alone. The embedding of a wordpiece in `rules` is a one-hot
  vector on the dimension of its label, and the dense head reads that
  dimension back, so the word's potentials favour that label (by about 4
  against about -0.1 for the others); every other wordpiece favours "O".
  Entities are then known in advance, and scores are well inside (0, 1).
* Random weights (`rules=None`): BERT-style random initialisation with a
  strong head, so tags are arbitrary but depend on context (neighbouring
  words, position, document context), which tests of batching need.

Sizes follow BERT's `BertModelTester`: hidden 32, 2 layers, 4 heads,
intermediate 37.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ner.bert import BertConfig
from ner.model import TaggerConfig, TaggerModel

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")

VOCAB = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "john", "smith", "zoe", "paris", "new", "york", "istanbul", "acme", "corp",
    "lives", "in", "the", "and", "at", "works", "met", "is", "big",
    "a", "b", "c", "x", "##s", "##son", ".", ",", "!", "?", "'", "-", "(", ")",
)

# First wordpiece of a word -> the label its potentials favour.
RULES = {
    "john": "B-PER", "zoe": "B-PER", "smith": "I-PER",
    "paris": "B-LOC", "istanbul": "B-LOC", "new": "B-LOC", "york": "I-LOC",
    "acme": "B-ORG", "corp": "I-ORG",
}

HIDDEN = 32
# One-hot embedding height and head gain: LayerNorm turns 10 * e_k into about
# 5.6 at dimension k and -0.18 elsewhere; times 0.7 gives potentials of about
# 3.9 against -0.13.
_EMBEDDING_HEIGHT = 10.0
_HEAD_GAIN = 0.7


def write_model_folder(
    path: str | Path,
    *,
    rules: Mapping[str, str] | None = RULES,
    labels: Sequence[str] = LABELS,
    vocab: Sequence[str] = VOCAB,
    do_lower_case: bool = True,
    max_seq_length: int = 16,
    document_context: bool = False,
    case_features: bool = False,
    head_case_size: int = 0,
    seed: int = 0,
    scheme: str = "IOB2",
) -> Path:
    """Writes a tiny model folder (tagger_config.json, vocab.txt, model.ckpt.*).

    Args:
        path: the folder to create.
        rules: wordpiece -> label its potentials favour; None for random
            weights (see the module docstring).
        labels: the tag set (IOB2).
        vocab: the wordpieces; must hold [PAD], [UNK], [CLS], [SEP].
        do_lower_case: the casing stored in the config.
        max_seq_length: wordpieces per window; small values make ordinary
            sentences span several windows.
        document_context: stored in the config.
        case_features: word-shape embeddings (`ner.casing`); with random
            weights they get a large random value, so shapes matter.
        head_case_size: with `case_features`, put the shapes in the head
            (`TaggerConfig.head_case_size`).
        seed: numpy seed of the random weights.
        scheme: the labels' tag scheme ("IOB2" or "BIOES"), stored in the
            config; the CRF's constraints follow it.

    Returns:
        The folder, as a Path.
    """
    path = Path(path)
    encoder = BertConfig(vocab_size=len(vocab), hidden_size=HIDDEN, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=37,
                         max_position_embeddings=max(64, max_seq_length))
    config = TaggerConfig(labels=list(labels), do_lower_case=do_lower_case,
                          encoder=encoder.to_dict(), max_seq_length=max_seq_length,
                          document_context=document_context, case_features=case_features,
                          head_case_size=head_case_size, scheme=scheme)
    model = TaggerModel(config)
    rng = np.random.default_rng(seed)
    variables = model.variables_by_name()
    for name, variable in variables.items():
        shape = variable.shape.as_list()
        if name.endswith(("/gamma",)):
            value = np.ones(shape)
        elif name.endswith(("/beta", "/bias")) or name.startswith("crf/"):
            value = np.zeros(shape)
        else:
            value = rng.normal(0.0, 0.02, shape)
        variable.assign(value.astype(np.float32))
    if rules is None:
        # A strong head and random transitions, so tags vary from word to word.
        variables["head/dense/kernel"].assign(
            rng.normal(0.0, 1.0, variables["head/dense/kernel"].shape).astype(np.float32))
        if case_features:
            name = "head/word_shape_embeddings" if head_case_size else "head/case_embeddings"
            variables[name].assign(rng.normal(0.0, 1.0, variables[name].shape).astype(np.float32))
        for name in ("crf/transitions", "crf/start_transitions", "crf/end_transitions"):
            variables[name].assign(rng.normal(0.0, 0.5, variables[name].shape).astype(np.float32))
    else:
        _apply_rules(variables, rules, labels, vocab)
    model.save(path, list(vocab))
    return path


def _apply_rules(variables, rules: Mapping[str, str], labels: Sequence[str],
                 vocab: Sequence[str]) -> None:
    """Makes each wordpiece's potentials favour its rule label (else "O")."""
    if len(labels) > HIDDEN:
        raise ValueError(f"{len(labels)} labels do not fit a one-hot embedding of size {HIDDEN}")
    unknown = sorted(set(rules) - set(vocab))
    if unknown:
        raise ValueError(f"rule wordpieces not in the vocabulary: {unknown}")
    embeddings = np.zeros((len(vocab), HIDDEN), np.float32)
    for token_id, token in enumerate(vocab):
        embeddings[token_id, list(labels).index(rules.get(token, "O"))] = _EMBEDDING_HEIGHT
    variables["bert/embeddings/word_embeddings"].assign(embeddings)
    for name in ("bert/embeddings/position_embeddings", "bert/embeddings/token_type_embeddings"):
        variables[name].assign(np.zeros(variables[name].shape, np.float32))
    for name, variable in variables.items():
        # Zero output projections: each layer computes LayerNorm(0 + x) = x.
        if name.endswith(("attention/output/dense/kernel", "/output/dense/kernel")):
            variable.assign(np.zeros(variable.shape, np.float32))
    kernel = np.zeros((HIDDEN, len(labels)), np.float32)
    kernel[np.arange(len(labels)), np.arange(len(labels))] = _HEAD_GAIN
    variables["head/dense/kernel"].assign(kernel)
