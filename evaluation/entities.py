"""Tagged texts as one web page: ``python -m ner.tag``'s output, entities highlighted.

    python -m ner.tag --model_dir=runs/default --output=tagged.jsonl texts.txt
    python -m evaluation.entities tagged.jsonl            # writes tagged.html

Each record's text with its entities highlighted at their character offsets,
the score on hover, and the record's other fields (an ``id``) above it; a
record of CoNLL input shows its words, a sentence a line. The input is JSONL
as ``ner.tag`` writes it (``--output_format=jsonl``, the default): files, a
folder of its shards (``part-*.jsonl``), or ``-`` for standard input
(``--entities_field=ents`` reads its ``--output_format=displacy``). The page
shows the first ``--max_records`` records (1,000 by default; 0 for all), so
that a corpus does not become a page no browser opens; ``--output=-`` writes
it to standard output. A page never replaces one of its inputs.

The page is :func:`evaluation.html.entities_page`, one self-contained file,
written atomically; it needs the ``html`` extra. Bad input ends with one line
on stderr naming the file and line, and exit status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Sequence

from ner.corpus import STDIN, STDIN_SOURCE, BadRecord, json_object, text_lines

__all__ = ["MAX_RECORDS", "main", "read_records"]

MAX_RECORDS = 1000


def _files(inputs: Sequence[str]) -> list[str]:
    """The files named: a folder stands for its `ner.tag` shards, in order."""
    out = []
    for name in inputs:
        path = Path(name)
        if name != STDIN and path.is_dir():
            shards = sorted(path.glob("part-*.jsonl"))
            if not shards:
                raise ValueError(f"{path}: a folder without part-*.jsonl shards of "
                                 f"python -m ner.tag")
            out += [str(p) for p in shards]
        elif name != STDIN and not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        else:
            out.append(name)
    return out


def read_records(inputs: Sequence[str], limit: int) -> tuple[list[dict], list[str], int]:
    """The first `limit` records (0: all) of JSONL inputs, where each is, and how many there are.

    Lines are read as `python -m ner.tag` reads JSONL (`ner.corpus`), with
    its messages; records after the first `limit` are counted, not parsed.

    Returns:
        (records, names, total): the records kept, each one's ``file:line``
        (for messages), and the number of records in all the inputs.

    Raises:
        FileNotFoundError: an input does not exist.
        ValueError: a line is not UTF-8, or a kept line is not a JSON object
            (an `ner.corpus.InputError`, naming file and line).
    """
    records, names, total = [], [], 0
    for name in _files(inputs):
        source = STDIN_SOURCE if name == STDIN else name
        with contextlib.ExitStack() as stack:
            stream = sys.stdin.buffer if name == STDIN else stack.enter_context(open(name, "rb"))
            for number, line in text_lines(stream, source):
                if isinstance(line, BadRecord):
                    raise line.error()
                if not line.strip():
                    continue
                total += 1
                if limit and len(records) >= limit:
                    continue  # counted, not parsed
                record = json_object(line, source, number)
                if isinstance(record, BadRecord):
                    raise record.error()
                records.append(record)
                names.append(f"{source}:{number}")
    return records, names, total


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.entities",
        description="Writes python -m ner.tag's JSONL output as one web page, each text with "
                    "its entities highlighted.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="JSONL files as python -m ner.tag writes them, a folder of its "
                             "shards, or - for standard input")
    parser.add_argument("--output", default=None,
                        help="the page to write, - for standard output (default: the first "
                             "input with .html for its suffix; needed with standard input)")
    parser.add_argument("--title", default=None,
                        help="the page's title (default: 'Entities: ' and the inputs)")
    parser.add_argument("--text_field", default="text",
                        help="the field holding each record's text (as ner.tag's --text_field; "
                             "default: %(default)s)")
    parser.add_argument("--entities_field", default="entities",
                        help="the field holding each record's entities (as ner.tag's "
                             "--entities_field; 'ents' for its displacy output; default: "
                             "%(default)s)")
    parser.add_argument("--max_records", type=int, default=MAX_RECORDS,
                        help="show the first this many records; 0 shows all (a page of a whole "
                             "corpus can be too big for a browser; default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m evaluation.entities`; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        from evaluation.html import entities_page, require_extra, write_page

        require_extra()  # before reading a large input
        if args.max_records < 0:
            raise ValueError(f"--max_records must be 0 (all) or more, got {args.max_records}")
        output = args.output
        if output is None:
            if args.inputs[0] == STDIN:
                raise ValueError("--output is needed when the input is standard input")
            first = Path(args.inputs[0])
            output = str(first.with_suffix(".html") if first.is_file() else
                         first.with_name(first.name + ".html"))
        if output != STDIN:
            _check_output(Path(output), _files(args.inputs))
        records, names, total = read_records(args.inputs, args.max_records)
        inputs = ", ".join("standard input" if name == STDIN else name for name in args.inputs)
        title = f"Entities: {inputs}" if args.title is None else args.title
        if len(records) < total:
            title += f" (the first {len(records):,} of {total:,} records)"
        page = entities_page(records, title=title, text_field=args.text_field,
                             entities_field=args.entities_field, names=names)
        if output == STDIN:
            sys.stdout.write(page)
        else:
            write_page(output, page)
    except (ValueError, OSError, ImportError) as e:
        print(f"evaluation.entities: error: {e}", file=sys.stderr)
        return 2
    if not total:
        print(f"evaluation.entities: warning: no records in {inputs}: the page shows none",
              file=sys.stderr)
    entities = sum(len(r.get(args.entities_field) or []) for r in records)
    shown = f"{len(records):,} of {total:,} records" if len(records) < total else \
        f"{total:,} record{'s' if total != 1 else ''}"
    where = "standard output" if output == STDIN else output
    print(f"{where}: {shown}, {entities:,} entit{'ies' if entities != 1 else 'y'}"
          + ("; --max_records=0 shows all" if len(records) < total else ""), file=sys.stderr)
    return 0


def _check_output(output: Path, inputs: Sequence[str]) -> None:
    """Refuses a page path that would overwrite an input or cannot be written."""
    for name in inputs:
        if name != STDIN and output.resolve() == Path(name).resolve():
            raise ValueError(f"--output {output} is an input: writing the page there would "
                             f"replace it; name another file")
    if output.is_dir():
        raise ValueError(f"--output {output} is a folder; name a file, e.g. {output}.html")
    if not output.parent.is_dir():
        raise ValueError(f"--output {output}: no folder {output.parent}")


if __name__ == "__main__":
    sys.exit(main())
