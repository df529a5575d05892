"""The text-to-entities pipeline: cost linear in the length of one text.

`Tagger.tag` once gathered the whole text once per word, so memory grew with
words x text length (16k words: +1.4 GB; 96k words: killed at 24 GB) and a
10x longer text took 20.9x as long. These tests guard the slope on a tiny
model, where the fixed costs are smallest and a quadratic step shows first.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from ner import pipeline, shapes
from ner.tagger import Tagger
from scripts.long_text import make_text
from tests.tiny_model import write_model_folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("linear") / "model", max_seq_length=64)


@pytest.fixture(scope="module")
def tagger(model_dir):
    return Tagger.load(model_dir)


def _best_seconds(function, rounds: int = 3) -> float:
    """Least CPU seconds of this process over `rounds` calls: unlike wall time,
    not inflated by other processes (the suite runs in two workers)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def test_ten_times_the_text_takes_at_most_twelve_times_as_long(tagger):
    short, long = make_text(20_000), make_text(200_000)  # about 3.8k and 38k words
    tagger.tag(short)  # traced before timing
    short_s = _best_seconds(lambda: tagger.tag(short))
    long_s = _best_seconds(lambda: tagger.tag(long), rounds=2)
    found = tagger.tag(long)
    assert len(found) > 1000 and found[-1].end <= len(long)
    assert long_s <= 12 * short_s, (short_s, long_s)


_MEMORY_CHILD = r"""
import json, resource, sys
from ner.tagger import Tagger
from scripts.long_text import make_text
tagger = Tagger.load(sys.argv[1])
tagger.tag(make_text(2000))
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
loaded = peak()
text = make_text(int(sys.argv[2]))
entities = tagger.tag(text)
print(json.dumps({"extra_mib": peak() - loaded, "entities": len(entities),
                  "last_end": entities[-1].end, "length": len(text)}))
"""


def test_memory_of_one_long_text_does_not_grow_with_words_times_length(model_dir, repo_root):
    # 400 KB, about 76k words: words x text length would be 30 GB.
    run = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(model_dir), "400000"],
                         capture_output=True, text=True, cwd=repo_root, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["entities"] > 1000 and result["last_end"] <= result["length"]
    assert result["extra_mib"] < 500, result


@pytest.mark.parametrize("max_rows,max_cells", [(1, 100), (4, 100), (128, 4096), (3, 7)])
def test_sorted_batches_cover_every_item_once_within_limits(max_rows, max_cells):
    sizes = np.random.default_rng(max_rows).integers(1, 60, size=200)
    order, splits = (t.numpy() for t in pipeline.sorted_batches(
        tf.constant(sizes, tf.int64), max_rows, max_cells))
    assert sorted(order.tolist()) == list(range(200))
    assert np.all(np.diff(sizes[order]) >= 0)  # shortest first
    for a, b in zip(splits[:-1], splits[1:]):
        rows = sizes[order[a:b]]
        assert 1 <= len(rows) <= max_rows
        assert len(rows) == 1 or len(rows) * rows.max() <= max_cells
    # Greedy: a batch could not have taken the next item.
    for a, b in zip(splits[:-1], splits[1:-1]):
        assert b - a == max_rows or (b - a + 1) * sizes[order[b]] > max_cells


@pytest.mark.parametrize("max_rows,max_cells", [(128, 2048), (100, 1000), (3, 7)])
def test_sorted_batches_of_real_cells_hold_many_sizes_within_limits(max_rows, max_cells):
    """`padded=False`: a batch's cells are its sizes' sum, so it spans many sizes."""
    sizes = np.random.default_rng(max_rows).integers(1, 120, size=300)
    order, splits = (t.numpy() for t in pipeline.sorted_batches(
        tf.constant(sizes, tf.int64), max_rows, max_cells, padded=False))
    assert sorted(order.tolist()) == list(range(300))
    assert np.all(np.diff(sizes[order]) >= 0)
    for a, b in zip(splits[:-1], splits[1:]):
        assert 1 <= b - a <= max_rows
        assert b - a == 1 or sizes[order[a:b]].sum() <= max_cells
    for a, b in zip(splits[:-1], splits[1:-1]):  # greedy
        assert b - a == max_rows or sizes[order[a:b + 1]].sum() > max_cells
    # Padded, the same sizes need more batches.
    _, padded = pipeline.sorted_batches(tf.constant(sizes, tf.int64), max_rows, max_cells)
    assert max_rows == 3 or len(padded.numpy()) > len(splits)


def test_size_grid_and_rounding():
    assert shapes.size_grid(1, 20) == [1, 2, 3, 4, 6, 8, 12, 16, 20]
    grid = shapes.size_grid(3, 128)
    assert grid[:16] == list(range(1, 17)) and grid[-3:] == [112, 120, 128] and len(grid) == 40
    # At most 1/8 of padding above 16.
    assert all(b <= a * 9 / 8 for a, b in zip(grid[15:], grid[16:]))
    values = tf.constant([1, 16, 17, 33, 127, 128], tf.int64)
    assert shapes.grid_ceil(grid, values).numpy().tolist() == [1, 16, 18, 36, 128, 128]
    assert shapes.grid_floor(grid, tf.constant([1, 17, 35, 127], tf.int64)).numpy().tolist() \
        == [1, 16, 32, 120]
    # Beyond the grid a value stays as it is (`ner.bert`'s packed rows past 2**24).
    assert shapes.grid_ceil([1, 2, 4], tf.constant([3, 4, 5, 9], tf.int32)).numpy().tolist() \
        == [4, 4, 5, 9]


def test_sorted_batches_of_nothing():
    order, splits = pipeline.sorted_batches(tf.zeros([0], tf.int64), 4, 100)
    assert order.numpy().tolist() == [] and splits.numpy().tolist() == [0]


def test_each_new_tagger_traces_without_a_retracing_warning(tmp_path):
    """Every pipeline traces its functions once, by design; TensorFlow counts
    traces by the code, so the fifth tagger in a process (a training run with
    its precision checks makes five) printed "5 out of the last 5 calls ...
    triggered tf.function retracing" and advice that does not apply."""
    import logging

    folder = write_model_folder(tmp_path / "model")
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep()
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        # Six traces of the cheapest function (the sentence splitter's) show
        # the warning is silenced; tracing the encoder six times took about
        # 10 s more. The rest are marked the same way, checked below.
        for _ in range(6):
            tagger = Tagger.load(folder)
            assert tagger.split_sentences("Zoe met John. Paris is big.") == [(0, 13), (14, 27)]
        assert tagger.tag_tokens([["john", "smith", "lives", "in", "paris"]]) == [
            ["B-PER", "I-PER", "O", "O", "B-LOC"]]
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert not [m for m in seen if "triggered tf.function retracing" in m], seen
    pipeline = tagger.pipeline
    functions = [getattr(pipeline, name) for name in (
        "entities", "word_tags", "sentences", "tag_texts", "tag_words", "tag_wordpieces", "decode")]
    assert all(getattr(f, "_omit_frequent_tracing_warning", False) for f in functions)


def test_the_encoder_loop_keeps_two_batches_in_flight(model_dir):
    """The next encoder batch starts while one runs (`PARALLEL_ITERATIONS`),
    filling the cores a batch alone leaves idle. `tf.function` makes every
    output of the loop's body, its counter included, wait for the body's
    stateful ops, so a cond that reads variables (LayerNorm's, once) held
    every batch until the one before had ended."""
    tagger = Tagger.load(model_dir, precision="int8")
    assert tagger.model.encoder.embedding_norm.fused  # its cond is in the graph
    graph = tagger.pipeline.entities.get_concrete_function().graph.as_graph_def()
    library = {f.signature.name: f for f in graph.library.function}
    loops = [(node.attr["body"].func.name, node.attr["parallel_iterations"].i)
             for nodes in [graph.node] + [f.node_def for f in library.values()]
             for node in nodes if node.op in ("While", "StatelessWhile")]
    # The encoder's loop: the body with the most ops.
    body, parallel = max(loops, key=lambda loop: len(library[loop[0]].node_def))
    assert parallel == pipeline.PARALLEL_ITERATIONS >= 2
    ops = collections.Counter(node.op for node in library[body].node_def)
    assert ops["StatelessIf"] >= 5  # LayerNorm's conds, one per norm of the tiny encoder

    def branches(node) -> list[str]:
        return [node.attr[key].func.name for key in ("then_branch", "else_branch")
                if key in node.attr]

    def reads_variables(name: str) -> bool:
        return any(node.op in ("ReadVariableOp", "ResourceGather")
                   or any(reads_variables(branch) for branch in branches(node))
                   for node in library[name].node_def)

    stateful_conds = [node.name for node in library[body].node_def if node.op == "If"
                      and any(reads_variables(branch) for branch in branches(node))]
    assert not stateful_conds
