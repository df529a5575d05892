"""scripts/benchmark.py --diagnose: the encoder's FLOPs as the tagger computes them."""

import sys
from pathlib import Path

import numpy as np
import pytest

# The script imports its helpers as `_common`, from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from scripts import benchmark  # noqa: E402
from tests.test_benchmark_litert import CONLL  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

from ner import data, features  # noqa: E402


def test_flops_count_real_wordpieces_and_the_last_block_at_the_words():
    h, f = 4, 8
    config = {"hidden_size": h, "intermediate_size": f, "num_hidden_layers": 3}
    # Two windows padded to 5 wordpieces: 5 and 3 real; 2 and 1 words, padded to 3.
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.int32)
    batch = features.Batch(input_ids=mask * 7, input_mask=mask,
                           word_starts=np.array([[1, 3, 0], [1, 0, 0]], np.int32),
                           word_lengths=np.array([2, 1], np.int32), label_ids=None, index=None)
    tagger, padded = benchmark._encoder_flops(config, [batch], groups=[16])
    dense, attention = 4 * h * h + 2 * h * f, 2 * 5 * h  # per row; per query over 5 keys
    assert padded == 2 * 3 * 10 * (dense + attention)
    below = 2 * (8 * dense + 10 * attention)  # two blocks: 8 real rows, 10 queries
    last = 8 * 3 * h * h + 3 * (h * h + 2 * h * f) + 2 * 3 * attention  # 3 words, 2 x 3 queries
    assert tagger == 2 * (below + last)
    assert tagger < padded
    # Attention in two groups (up to 4 real pieces, and more): the row of 3
    # attends over 3 keys with 3 queries, the last block's 3 query words.
    grouped, _ = benchmark._encoder_flops(config, [batch], groups=[4])
    short = 2 * 3 * h  # per query over 3 keys
    below = 2 * (8 * dense + 5 * attention + 3 * short)
    last = 8 * 3 * h * h + 3 * (h * h + 2 * h * f) + 3 * attention + 3 * short
    assert grouped == 2 * (below + last)


def test_diagnosis_times_the_packed_encoder_on_what_it_computes(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmark, "_matmul_gflops", lambda *args, **kwargs: 1.0)
    path = tmp_path / "test.txt"
    path.write_text(CONLL, encoding="utf-8")
    from ner import Tagger

    tagger = Tagger.load(write_model_folder(tmp_path / "model", rules=None))
    sentences = list(data.sentences(data.read_conll(path)))
    diagnosis = benchmark._diagnose(tagger, sentences)
    assert diagnosis["wordpieces"] > 0 and diagnosis["encoder_s"] > 0
    assert 0 < diagnosis["encoder_gflop"] < diagnosis["encoder_gflop_padded"]
    assert diagnosis["encoder_gflops_per_s"] == pytest.approx(
        diagnosis["encoder_gflop"] / diagnosis["encoder_s"], rel=1e-9)
