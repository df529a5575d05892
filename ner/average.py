"""One model from several: the mean of their weights (a "model soup").

    python -m ner.average --output_dir=models/soup runs/e10_s42 runs/e10_s43 runs/e10_s44

Runs of one recipe fine-tuned from the same pretrained encoder (different
seeds, say) end near each other, and the mean of their weights tags better
than a typical member at the cost of one model: on CoNLL-2003 the mean of
three ten-epoch seeds scored 94.38 dev F1 against 94.00-94.30 for the seeds
themselves (BENCHMARKS.md, issue 14). Unlike an ensemble it tags at the
speed of one model. Averaging models that did not start from the same
encoder weights gives nonsense; this cannot be checked from the folders, so
score the result (`python -m evaluation.report --model_dir=... --data=dev`).

The models must share their tagger configuration (labels, encoder, head) and
vocabulary; the first difference is an error that names the folder. The
average is written atomically as a model folder, with the first model's card
less its scores (they were that model's) plus the list of sources. The
sources' `precision.json` is not copied: run `python -m ner.precision` on the
average to let `--precision=auto` use bfloat16 or int8 for it.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["average"]


def average(model_dirs: Sequence[str | os.PathLike], output_dir: str | os.PathLike) -> Path:
    """Writes the mean of the models' weights as a model folder.

    Args:
        model_dirs: at least two model folders (or training output folders
            holding `model/`), of one tagger configuration and vocabulary.
        output_dir: the folder to write; must not exist.

    Returns:
        The output folder.

    Raises:
        FileNotFoundError: a folder is not a model folder.
        FileExistsError: `output_dir` exists.
        ValueError: fewer than two models, or their configurations or
            vocabularies differ (the message names the folder and the field).
    """
    from ner.model import CONFIG_FILE, VOCAB_FILE, TaggerModel, read_meta
    from ner.tagger import resolve_model_dir

    if len(model_dirs) < 2:
        raise ValueError(f"averaging needs at least two models, got {len(model_dirs)}")
    output = Path(output_dir)
    if output.exists():
        raise FileExistsError(f"{output} exists already; choose a new --output_dir")
    folders = [resolve_model_dir(Path(d)) for d in model_dirs]
    first = folders[0]
    vocab = (first / VOCAB_FILE).read_text(encoding="utf-8")
    # One model in memory besides the sum, which the first's variables hold.
    model = TaggerModel.load(first)
    config = model.config.to_dict()
    total = model.variables_by_name()
    for folder in folders[1:]:
        other = TaggerModel.load(folder)
        values = other.config.to_dict()
        for key in sorted(set(config) | set(values)):
            if config.get(key) != values.get(key):
                raise ValueError(f"{folder / CONFIG_FILE}: {key} is {values.get(key)!r}, but "
                                 f"{first / CONFIG_FILE} has {config.get(key)!r}; only models "
                                 "of one configuration can be averaged")
        if (folder / VOCAB_FILE).read_text(encoding="utf-8") != vocab:
            raise ValueError(f"{folder / VOCAB_FILE} differs from {first / VOCAB_FILE}; only "
                             "models of one vocabulary can be averaged")
        for name, variable in other.variables_by_name().items():
            total[name].assign_add(variable)
    for variable in total.values():
        variable.assign(variable / len(folders))

    meta = read_meta(first)
    if meta is not None:
        meta = copy.deepcopy(meta)
        meta["name"] = output.name
        meta.pop("scores", None)  # the first model's, not the average's
        meta["averaged_from"] = [{"path": str(f), "version": (read_meta(f) or {}).get("version")}
                                 for f in folders]
    model.save(output, vocab.splitlines(), meta=meta)
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ner.average",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dirs", nargs="+",
                        help="model folders, or training output folders holding model/")
    parser.add_argument("--output_dir", required=True, help="the new model folder to write")
    args = parser.parse_args(argv)
    try:
        output = average(args.model_dirs, args.output_dir)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"average: error: {e}", file=sys.stderr)
        return 2
    print(f"written: {output} (the mean of {len(args.model_dirs)} models; score it with "
          f"python -m evaluation.report --model_dir={output} --data=DEV_FILE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
