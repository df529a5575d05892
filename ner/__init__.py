"""Named-entity recognition with BERT on TensorFlow 2.

Public entry points:
    ner.BertConfig, ner.BertEncoder   -- the encoder (Google and Hugging Face checkpoints)
    ner.Tokenizer                     -- wordpieces, identical to the reference BERT tokenizer
    ner.Tagger                        -- load a trained model folder and tag raw text
"""

import importlib

__version__ = "0.1.0"

# Attributes are imported on first use so that `import ner` stays cheap and a
# tool that needs only the data reader does not pay for TensorFlow's start-up.
_LAZY = {
    "BertConfig": "ner.bert",
    "BertEncoder": "ner.bert",
    "EncoderOutput": "ner.bert",
    "Tokenizer": "ner.tokenization",
    "Tagger": "ner.tagger",
    "Entity": "ner.tagger",
}

__all__ = sorted(_LAZY)


def __dir__():
    # The lazy attributes too, for dir(), help() and tab completion.
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ner' has no attribute {name!r}")
