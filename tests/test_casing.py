"""Word shapes: the truth table, packing into ids, and their use by the model,
the tagger, training and the exported graph."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from ner import casing, train
from ner.checkpoint import read_checkpoint
from ner.export import ExportModule
from ner.features import encode_sentences
from ner.model import TaggerConfig, TaggerModel
from ner.tagger import Tagger
from ner.tokenization import Tokenizer
from tests.tiny_model import VOCAB, write_model_folder


@pytest.mark.parametrize("word, shape", [
    ("the", "lower"), ("ex-president", "lower"), ("1990s", "lower"), ("naïve", "lower"),
    ("Bush", "title"), ("Al-qaida", "title"), ("İstanbul", "title"), ("Ǆemal", "title"),
    ("Émile", "title"), ("'Tis", "title"),
    ("US", "upper"), ("U.S.", "upper"), ("I", "upper"), ("NATO", "upper"), ("1990S", "upper"),
    ("McDonald", "mixed"), ("O'Neill", "mixed"), ("eBay", "mixed"), ("ex-President", "mixed"),
    ("1996", "digit"), ("3-1", "digit"), ("12.5", "digit"), ("١٢", "digit"),
    (",", "other"), ("--", "other"), ("東京", "other"), ("", "other"), ("😀", "other"),
])
def test_word_shapes(word, shape):
    got = casing.tf_word_shapes(tf.constant([word]))[0].numpy()
    assert casing.SHAPES[got] == shape


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("".join(v + "\n" for v in VOCAB), encoding="utf-8")
    return Tokenizer(path, do_lower_case=True)


def test_pack_and_unpack_round_trip(tokenizer):
    sentences = [["John", "Smith", "lives", "in", "PARIS", "."], ["acme", "Corps"]]
    ids = tokenizer.tokenize_words(sentences)
    flat_words = tf.constant([w for s in sentences for w in s])
    packed = casing.pack(ids, flat_words, len(VOCAB))
    # Every piece of a word carries its word's shape ("Corps" = corp ##s).
    want_shapes = [[[2], [2], [1], [1], [3], [6]], [[1], [2, 2]]]
    assert (packed // len(VOCAB)).to_list() == want_shapes
    plain, shapes = casing.unpack(packed.flat_values, len(VOCAB))
    np.testing.assert_array_equal(plain, ids.flat_values)
    np.testing.assert_array_equal(shapes, [s for sent in want_shapes for w in sent for s in w])
    # The graph version gives the same.
    assert casing.tf_pack(ids, flat_words, len(VOCAB)).to_list() == packed.to_list()


def test_unpack_rejects_ids_out_of_range():
    with pytest.raises(tf.errors.InvalidArgumentError, match="packed wordpiece id out of range"):
        casing.unpack(tf.constant([[5, 10 * casing.NUM_SHAPES]]), 10)


def test_encode_sentences_packs_lists_and_ragged_alike(tokenizer):
    sentences = [["John", "met", "ZOE", "."], ["Paris", "1996"]]
    as_lists = encode_sentences(tokenizer, sentences, 16, pack_vocab_size=len(VOCAB))
    as_ragged = encode_sentences(tokenizer, tf.ragged.constant(sentences), 16,
                                 pack_vocab_size=len(VOCAB))
    plain = encode_sentences(tokenizer, sentences, 16)
    for a, b, p in zip(as_lists.windows, as_ragged.windows, plain.windows):
        np.testing.assert_array_equal(a.input_ids, b.input_ids)
        np.testing.assert_array_equal(a.input_ids % len(VOCAB), p.input_ids)
        # [CLS] and [SEP] keep shape 0; words carry theirs.
        assert a.input_ids[0] == p.input_ids[0] and a.input_ids[-1] == p.input_ids[-1]
    assert (as_lists.windows[0].input_ids // len(VOCAB)).tolist() == [0, 2, 1, 3, 6, 0]


def _tiny_config(case_features: bool) -> TaggerConfig:
    from ner.bert import BertConfig

    encoder = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, intermediate_size=37)
    return TaggerConfig(labels=["O", "B-PER", "I-PER"], do_lower_case=True,
                        encoder=encoder.to_dict(), case_features=case_features)


def test_zero_shape_embeddings_leave_the_encoder_as_it_was():
    tf.random.set_seed(0)
    plain = TaggerModel(_tiny_config(False))
    cased = TaggerModel(_tiny_config(True), encoder=plain.encoder)
    for name in ("dense_kernel", "dense_bias"):
        getattr(cased, name).assign(getattr(plain, name))
    assert not np.any(cased.case_embeddings.numpy())  # starts at zero
    ids = np.array([[2, 5, 6, 14, 3]], np.int32)
    mask = np.ones_like(ids)
    starts, lengths = np.array([[1, 2, 3]], np.int32), np.array([3], np.int32)
    packed = ids + len(VOCAB) * np.array([[0, 2, 2, 1, 0]], np.int32)
    want = plain.potentials(ids, mask, starts, lengths).numpy()
    np.testing.assert_allclose(cased.potentials(packed, mask, starts, lengths), want, atol=1e-6)
    # Once learned, the shapes change the encoder's input: Title vs lower differs.
    cased.case_embeddings.assign(tf.random.normal(cased.case_embeddings.shape))
    lower = ids + len(VOCAB) * np.array([[0, 1, 1, 1, 0]], np.int32)
    a = cased.potentials(packed, mask, starts, lengths).numpy()
    b = cased.potentials(lower, mask, starts, lengths).numpy()
    assert np.abs(a - b).max() > 0.1
    # And the variable saves under the head's scope.
    assert "head/case_embeddings" in cased.variables_by_name()


@pytest.mark.parametrize("head_case_size", [0, 8], ids=["input", "head"])
def test_tagger_and_export_see_capitalisation(tmp_path, head_case_size):
    folder = write_model_folder(tmp_path / "m", rules=None, case_features=True, seed=7,
                                max_seq_length=12, head_case_size=head_case_size)
    assert json.loads((folder / "tagger_config.json").read_text())["case_features"] is True
    tagger = Tagger.load(folder)
    texts = ["John Smith met Zoe in Paris.", "JOHN SMITH MET ZOE IN PARIS.",
             "john smith met zoe in paris.", "Acme Corp and the big York x b c a, New York!",
             "Istanbul is big. ACME is big."]
    got = [[(e.label, e.start, e.end) for e in tagger.tag(t)] for t in texts]
    # Same wordpieces, different shapes, different tags.
    assert len({tuple(g) for g in got[:3]}) > 1
    # tag_tokens (words given) agrees with tag (raw text) on the same words.
    words = [t.replace(".", " .").replace(",", " ,").replace("!", " !").split() for t in texts[:3]]
    labels = tagger.tag_tokens(words)
    for sentence_words, sentence_labels, entities in zip(words, labels, got[:3]):
        assert sum(label.startswith("B-") for label in sentence_labels) == len(entities)
    # The exported graph packs the same shapes: the same entities.
    module = ExportModule(tagger.model, tagger.tokenizer, window_batch_size=3)
    out = {k: v.numpy() for k, v in module.tag_texts(tf.constant([t.encode() for t in texts])).items()}
    for b, text in enumerate(texts):
        n = int(out["num_entities"][b])
        exported = [(out["labels"][b, i].decode(), int(out["char_starts"][b, i]),
                     int(out["char_ends"][b, i])) for i in range(n)]
        assert exported == got[b], text


def test_head_shapes_reach_the_potentials_and_survive_a_round_trip(tmp_path):
    tf.random.set_seed(0)
    config = dataclasses.replace(_tiny_config(True), head_case_size=8, bilstm_units=5)
    model = TaggerModel(config)
    names = model.variables_by_name()
    assert names["head/word_shape_embeddings"].shape == (casing.NUM_SHAPES, 8)
    assert "head/case_embeddings" not in names  # nothing added below the encoder
    assert names["head/bilstm/forward/kernel"].shape[0] == 32 + 8
    ids = np.array([[2, 5, 6, 14, 3]], np.int32)
    mask = np.ones_like(ids)
    starts, lengths = np.array([[1, 2, 3]], np.int32), np.array([3], np.int32)
    title = ids + len(VOCAB) * np.array([[0, 2, 2, 1, 0]], np.int32)
    lower = ids + len(VOCAB) * np.array([[0, 1, 1, 1, 0]], np.int32)
    a = model.potentials(title, mask, starts, lengths).numpy()
    b = model.potentials(lower, mask, starts, lengths).numpy()
    assert np.abs(a - b).max() > 1e-3
    # The loss reaches the shape vectors (they are trained with the head).
    features = {"input_ids": title, "input_mask": mask, "word_starts": starts,
                "word_lengths": lengths}
    with tf.GradientTape() as tape:
        loss = model.loss(features, np.array([[1, 2, 0]], np.int32), training=False)
    grad = tape.gradient(loss, model.head_case_embeddings)
    assert np.abs(tf.convert_to_tensor(grad).numpy()[[1, 2]]).max() > 0
    # The encoder sees the same pieces either way: its output does not move.
    np.testing.assert_array_equal(model.encoder(ids % len(VOCAB), mask).sequence_output,
                                  model.encoder(ids, mask).sequence_output)
    model.save(tmp_path / "m", VOCAB)
    loaded = TaggerModel.load(tmp_path / "m")
    assert loaded.config.head_case_size == 8
    np.testing.assert_allclose(loaded.potentials(title, mask, starts, lengths), a, atol=1e-6)


def test_head_shapes_without_case_features_are_refused():
    values = dataclasses.replace(_tiny_config(False), head_case_size=8).to_dict()
    with pytest.raises(ValueError, match="cfg.json: head_case_size 8 needs case_features"):
        TaggerConfig.from_dict(values, source="cfg.json")


def test_training_puts_shapes_in_the_head_under_a_wholly_frozen_encoder(tmp_path, tiny_bert_dir,
                                                                        repo_root, capsys):
    import shutil

    for split in ("train", "dev", "test"):
        shutil.copy(repo_root / "data" / "conll2003" / "sample.txt", tmp_path / f"{split}.txt")
    common = dict(data_dir=str(tmp_path), bert_dir=str(tiny_bert_dir), epochs=1, batch_size=8,
                  max_seq_length=48, max_steps=2, check_precisions="")
    train.train(train.TrainOptions(output_dir=str(tmp_path / "default"), **common))
    config = json.loads((tmp_path / "default" / "model" / "tagger_config.json").read_text())
    assert config["case_features"] is True
    assert config["head_case_size"] == 0
    train.train(train.TrainOptions(output_dir=str(tmp_path / "frozen"), freeze="bert/", **common))
    config = json.loads((tmp_path / "frozen" / "model" / "tagger_config.json").read_text())
    assert config["case_features"] is True and config["head_case_size"] == train.HEAD_CASE_SIZE
    assert "case features: in the head (32 per word), because --freeze covers the whole encoder" \
        in capsys.readouterr().err
    # The encoder was not trained.
    before = read_checkpoint(tiny_bert_dir / "bert_model.ckpt")
    after = read_checkpoint(tmp_path / "frozen" / "model" / "model.ckpt")
    shared = [name for name in before if name in after]
    assert len(shared) > 10
    assert all(np.array_equal(after[name], before[name]) for name in shared)
