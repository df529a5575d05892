"""Time and peak memory of tagging ONE long text, against its length.

    python scripts/long_text.py --model_dir=runs/default --sizes=100000,1000000
    python scripts/long_text.py --model_dir=runs/default --saved_model=exported/ner/1
    python scripts/long_text.py --model_dir=runs/default --sizes=250000,500000 --one_sentence

The text repeats a 16-word English sentence up to each size in bytes (1 MB
is about 190k words). Each (front end, size) runs in a fresh process, which
loads the model, warms up on a short text, and then tags the long text
(`--repeats` times, best time kept): the figures are the wall time of a call and how far it raised the
process's peak resident memory above the loaded, warmed-up model's. Front
ends: `Tagger.tag`, and with `--saved_model` the exported `serving_default`.
The last line gives the time ratio of consecutive sizes against their length
ratio: linear cost keeps the two close.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
SENTENCE = "Angela Merkel met Emmanuel Macron in Paris on Tuesday and the EU summit ends today . "


def make_text(size: int, one_sentence: bool = False) -> str:
    """The sentence repeated to `size` characters (ASCII, so also bytes);
    `one_sentence`: without its periods, one run-on sentence (a transcript,
    scraped text), where a sentence's cost must stay linear too."""
    sentence = SENTENCE.replace(" . ", " ") if one_sentence else SENTENCE
    return (sentence * (size // len(sentence) + 1))[:size].rstrip()


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(front_end: str, target: str, size: int, repeats: int,
           one_sentence: bool = False) -> dict:
    """Runs in a fresh process: load, warm up, tag `repeats` times, measure."""
    if str(_REPO) not in sys.path:
        sys.path.insert(0, str(_REPO))
    import tensorflow as tf

    if front_end == "tagger":
        import ner

        tagger = ner.Tagger.load(target)
        tag = lambda text: len(tagger.tag(text))
    else:
        import tensorflow_text  # noqa: F401  (registers the text ops)

        serve = tf.saved_model.load(target).signatures["serving_default"]
        tag = lambda text: int(serve(texts=tf.constant([text.encode()]))["num_entities"][0])
    tag(make_text(2000))
    loaded = _peak_mib()
    text = make_text(size, one_sentence)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        entities = tag(text)
        seconds.append(time.perf_counter() - start)
    return {"front_end": front_end, "bytes": len(text.encode()), "words": len(text.split()),
            "entities": entities, "seconds": min(seconds), "all_seconds": seconds,
            "loaded_peak_mib": loaded,
            "extra_peak_mib": _peak_mib() - loaded}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", default=str(_REPO / "runs" / "default"),
                        help="model folder, or a training output folder holding model/")
    parser.add_argument("--saved_model", help="also measure this exported version folder")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated text sizes in bytes")
    parser.add_argument("--repeats", type=int, default=1,
                        help="tag each text this many times in its process; the best time counts "
                             "(a shared machine's load swings single runs)")
    parser.add_argument("--one_sentence", action="store_true",
                        help="the sentence without its periods: the whole text one sentence")
    parser.add_argument("--output", help="also write the rows as JSON here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], int(args.child[2]),
                                int(args.child[3]), args.child[4] == "1")))
        return []

    targets = [("tagger", args.model_dir)] + ([("saved_model", args.saved_model)]
                                              if args.saved_model else [])
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for front_end, target in targets:
        previous = None
        for size in sizes:
            out = subprocess.run([sys.executable, __file__, "--child", front_end, target,
                                  str(size), str(args.repeats), str(int(args.one_sentence))],
                                 check=True, capture_output=True, text=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            slope = ""
            if previous:
                slope = (f"; {row['seconds'] / previous['seconds']:.2f}x the time of "
                         f"{row['bytes'] / previous['bytes']:.2f}x the text")
            print(f"{front_end}: {row['bytes']:,} bytes, {row['words']:,} words, "
                  f"{row['entities']:,} entities in {row['seconds']:.2f}s; peak memory "
                  f"+{row['extra_peak_mib']:.0f} MiB over the loaded model's "
                  f"{row['loaded_peak_mib']:.0f} MiB{slope}", flush=True)
            previous = row
    if args.output:
        Path(args.output).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
