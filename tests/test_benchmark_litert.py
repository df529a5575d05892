"""scripts/benchmark.py --litert: our word potentials converted to LiteRT, timed beside ours.

Also guards what makes the model convertible at all: its graph in float32
with standard ops has only TFLite builtin ops (`TaggerModel.potentials`
and `BertEncoder` add axes with `expand_dims`, not strided slices).
"""

import sys
from pathlib import Path

import pytest

# The script imports its helpers as `_common`, from its own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from scripts.benchmark import main  # noqa: E402
from tests.tiny_model import write_model_folder  # noqa: E402

CONLL = """-DOCSTART- -X- -X- O

Ada NNP B-NP B-PER
lives VBZ B-VP O
in IN B-PP O
London NNP B-NP B-LOC
. . O O

Paris NNP B-NP B-LOC
is VBZ B-VP O
big JJ B-ADJP O

The DT B-NP O
UN NNP I-NP B-ORG
met VBD B-VP O
Bob NNP B-NP B-PER
Smith NNP I-NP I-PER
in IN B-PP O
Rome NNP B-NP B-LOC
"""


@pytest.mark.parametrize("case_features", [False, True])
def test_litert_potentials_match_ours_in_float32(tmp_path, capsys, case_features):
    data = tmp_path / "test.txt"
    data.write_text(CONLL, encoding="utf-8")
    # Random weights, shapes as word shapes give them (packed ids, unpacked in the graph).
    model = write_model_folder(tmp_path / "model", rules=None, case_features=case_features)
    result = main([f"--model_dir={model}", f"--data={data}", "--skip_hf", "--litert",
                   "--precisions=float32", "--rounds=1", "--warmup=2"])
    litert = result["litert"]
    words = 15
    exact = litert["LiteRT, float32"]
    assert exact["words"] == words
    assert exact["max_potential_difference"] < 1e-4
    assert exact["words_with_another_best_tag"] == 0
    int8 = litert["LiteRT, dynamic-range int8"]
    assert int8["words"] == words and int8["seconds"] > 0
    # int8 weights: a smaller flatbuffer than the float32 one.
    assert int8["model_bytes"] < exact["model_bytes"]
    assert litert["ours, float32"]["seconds"] > 0
    assert "LiteRT, dynamic-range int8" in capsys.readouterr().out


def test_a_model_the_converter_refuses_is_reported_not_raised(tmp_path, capsys, monkeypatch):
    import tensorflow as tf

    def refuse(self):
        raise RuntimeError("Could not translate MLIR to FlatBuffer.\n"
                           "model.py:1:1: error: 'tf.TensorListReserve' op requires element_shape")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "convert", refuse)
    data = tmp_path / "test.txt"
    data.write_text(CONLL, encoding="utf-8")
    model = write_model_folder(tmp_path / "model", rules=None)
    result = main([f"--model_dir={model}", f"--data={data}", "--skip_hf", "--litert",
                   "--precisions=float32", "--rounds=1", "--warmup=2"])
    litert = result["litert"]
    assert litert["ours, float32"]["seconds"] > 0  # ours still timed
    for name in ("LiteRT, float32", "LiteRT, dynamic-range int8"):
        assert "tf.TensorListReserve" in litert[name]["error"]
    assert "LiteRT, float32: not timed, the TFLite converter could not convert" in \
        capsys.readouterr().out
