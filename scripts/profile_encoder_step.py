"""Times one forward+backward pass of the default encoder, TF (with and without XLA) and PyTorch.

    python scripts/profile_encoder_step.py

Batch 32 x 32 wordpieces, float32, dropout on, gradients of all weights except
the word embeddings, loss = mean square of the last layer. Used to decide the
`--xla` default; needs torch and transformers (the `test` extra) for the
PyTorch line.
"""

import time

import numpy as np
import tensorflow as tf

from ner import checkpoint
from ner.bert import BertEncoder

BATCH, SEQ, REPEATS = 32, 32, 4


def tensorflow_step(jit: bool) -> float:
    enc = BertEncoder.from_pretrained()
    variables = [v for v in enc.trainable_variables if "word_embeddings" not in v.name]
    ids = np.random.default_rng(0).integers(1000, 20000, (BATCH, SEQ)).astype(np.int32)
    mask = np.ones_like(ids)

    @tf.function(jit_compile=jit)
    def step(ids, mask):
        with tf.GradientTape() as tape:
            out = enc(ids, attention_mask=mask, training=True).sequence_output
            loss = tf.reduce_mean(tf.square(out))
        return tape.gradient(loss, variables)

    step(ids, mask)
    start = time.perf_counter()
    for _ in range(REPEATS):
        grads = step(ids, mask)
    grads[0].numpy()
    return (time.perf_counter() - start) / REPEATS


def torch_step() -> float:
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(str(checkpoint.default_encoder_dir()), add_pooling_layer=False)
    model.train()
    model.embeddings.word_embeddings.weight.requires_grad_(False)
    ids = torch.randint(1000, 20000, (BATCH, SEQ))

    def step():
        model.zero_grad()
        (model(ids).last_hidden_state ** 2).mean().backward()

    step()
    start = time.perf_counter()
    for _ in range(REPEATS):
        step()
    return (time.perf_counter() - start) / REPEATS


if __name__ == "__main__":
    for name, fn in (("tensorflow", lambda: tensorflow_step(False)),
                     ("tensorflow + XLA", lambda: tensorflow_step(True)), ("pytorch", torch_step)):
        seconds = fn()
        print(f"{name:<18} {seconds * 1000:7.0f} ms/step  {BATCH * SEQ / seconds:7.0f} wordpieces/s")
