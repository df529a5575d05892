"""Fuzz `python -m ner.serve` from its OpenAPI description with schemathesis; loopback only.

    python scripts/fuzz_api.py --model_dir=runs/default --max_examples=300

starts the server on a free loopback port (or uses `--url` of a running one),
runs `schemathesis run` on `/openapi.json` (every phase that needs no state:
examples, coverage, fuzzing; valid and invalid data; all response checks)
and exits with its status: 0 means no 5xx and no response that breaks the
description. The test suite runs a smaller version of this
(`tests/test_serve.py::test_fuzzing_the_openapi_description_finds_no_server_error`).

schemathesis's negative-data check expects invalid requests to be refused
with one of a fixed list of statuses, which lacks 413; the server answers a
body over `--max_body_bytes` with 413, so the list is extended here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_test import (check_loopback, free_port, start_server, stop_server,  # noqa: E402
                       wait_healthy)

_CONFIG = """\
[checks.negative_data_rejection]
expected-statuses = [400, 404, 405, 406, 413, 415, 422, 431]
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--model_dir", help="start `python -m ner.serve` on this model")
    target.add_argument("--url", help="an already running server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--max_examples", type=int, default=300, help="examples per operation")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (reproducible runs)")
    parser.add_argument("--serve_flag", action="append", default=[],
                        help="extra flag for ner.serve, e.g. --serve_flag=--max_texts=8")
    args = parser.parse_args(argv)

    process = None
    try:
        if args.model_dir:
            host, port = "127.0.0.1", free_port()
            process = start_server(args.model_dir, port, args.serve_flag)
        else:
            host, port = check_loopback(args.url)
        wait_healthy(host, port, timeout=600, process=process)
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "schemathesis.toml"
            config.write_text(_CONFIG, encoding="utf-8")
            command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file",
                       str(config), "run", f"http://{host}:{port}/openapi.json",
                       "--checks", "all", "--phases", "examples,coverage,fuzzing",
                       "--max-examples", str(args.max_examples), "--seed", str(args.seed),
                       "--workers", "1", "--request-timeout", "60"]
            print("fuzz_api:", " ".join(command), file=sys.stderr)
            # Run in the temporary folder: schemathesis keeps its example
            # database in ./.schemathesis, which must not land in the checkout.
            return subprocess.run(command, cwd=folder).returncode
    finally:
        if process is not None:
            print(f"fuzz_api: server exited with status {stop_server(process)}", file=sys.stderr)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, TimeoutError, RuntimeError) as e:
        print(f"fuzz_api: error: {e}", file=sys.stderr)
        sys.exit(2)
