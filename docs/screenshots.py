"""Renders the HTML pages of a trained run and screenshots them in headless Chromium.

    .venv/bin/python docs/screenshots.py --run_dir=runs/default --curves_run_dir=runs/default

writes `docs/report.png` (the top of the evaluation report of the run's test
predictions), `docs/report_examples.png` (its error examples, filtered to
ORG entities with the wrong type), `docs/curves.png` (the training curves of
`--curves_run_dir`) and `docs/entities.png` (a few sentences of our own,
tagged by the run's model). Needs the `html` extra, and Debian's `chromium`
(`apt-get install chromium`), run headless with no network use of its own.
The pages themselves are written to `--pages_dir` (not committed: the report
quotes CoNLL-2003 test sentences).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Sentences of our own for the tagged-text page: no licensed text.
TEXTS = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday, the German government said.",
    "Shares of Acme Corp. fell 4% on the New York Stock Exchange after the Reuters report.",
    "Lionel Messi scored twice as Inter Miami beat Toronto FC 3-1 in the MLS.",
    'The "<script>" tag & friends: markup in the input shows as text, Dr. Zoe Smith noted '
    "in Berlin.",
]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars"]


def screenshot(page: Path, png: Path, width: int, height: int, fragment: str = "",
               crop: tuple[int, int] | None = None) -> None:
    """Screenshots `page` at width x height in headless Chromium; keeps rows crop[0]:crop[1]."""
    from PIL import Image  # comes with matplotlib

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("screenshots: error: chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        raw = Path(profile) / "shot.png"
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/user",
                        f"--window-size={width},{height}", f"--screenshot={raw}",
                        page.resolve().as_uri() + fragment],
                       check=True, capture_output=True, timeout=180)
        image = Image.open(raw)
        if crop:
            image = image.crop((0, crop[0], width, crop[1]))
        image.save(png, optimize=True)
    print(png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run_dir", default="runs/default",
                        help="training output folder: model/ and test_predictions.txt")
    parser.add_argument("--curves_run_dir", default=None,
                        help="training output folder whose train_log.jsonl is plotted "
                             "(default: --run_dir)")
    parser.add_argument("--pages_dir", default="build/pages", help="where the pages go")
    parser.add_argument("--out", default=str(REPO / "docs"), help="where the PNGs go")
    parser.add_argument("--examples_from", type=int, default=2190,
                        help="first pixel row of the error examples in the report's screenshot")
    args = parser.parse_args()

    from evaluation.curves import write_curves
    from evaluation.html import entities_page, write_page
    from evaluation.report import run

    run_dir, pages, out = Path(args.run_dir), Path(args.pages_dir), Path(args.out)
    pages.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    report = pages / "report.html"
    run(predictions_in=str(run_dir / "test_predictions.txt"), html=str(report))
    screenshot(report, out / "report.png", 1280, 2250)
    screenshot(report, out / "report_examples.png", 1280, args.examples_from + 1150,
               "#examples?type=ORG&kind=wrong_type",
               crop=(args.examples_from, args.examples_from + 1150))

    curves = write_curves(args.curves_run_dir or run_dir, pages / "curves.html")
    screenshot(curves, out / "curves.png", 1200, 1150)

    import ner

    tagger = ner.Tagger.load(run_dir)
    entities = pages / "entities.html"
    write_page(entities, entities_page(zip(TEXTS, tagger.tag_batch(TEXTS)),
                                       title=f"Entities: {run_dir.resolve().name}"))
    screenshot(entities, out / "entities.png", 1100, 560)


if __name__ == "__main__":
    main()
