"""Where oneDNN's LayerNorm and quantize kernels start to pay: each against plain ops, by size.

    python scripts/op_crossover.py
    python scripts/op_crossover.py --rows=16,64,128,160,192,256,384,512,4096 --repeats=5

`ner.bert` runs two steps of int8 (and LayerNorm of every) inference through
oneDNN's kernels only on inputs large enough: `FUSED_LAYER_NORM_MIN_ROWS`
rows for the LayerNorm, `ONEDNN_QUANTIZE_MIN_VALUES` values for quantizing a
dense layer's input. Below that, the kernel's fixed cost per call exceeds what
it saves. This times both ways of each step inside one function, `--calls`
calls in a chain, best of `--repeats`, and prints microseconds per call for
inputs of each number of `--rows` and `--width` values (the LayerNorm on the
hidden width only, as in the encoder) beside the constant's choice.
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (puts the repository on sys.path)


def _per_call(step, x, calls: int, repeats: int) -> float:
    """Microseconds per call of `step(x)` in a chain of `calls` calls in one function."""
    import tensorflow as tf

    @tf.function
    def chain(x):
        acc = tf.zeros([], tf.float32)
        for _ in range(calls):  # each call depends on the last: no two run at once
            acc += tf.reduce_sum(tf.cast(step(x + acc)[:1, :1], tf.float32)) * 0.0
        return acc

    chain(x).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        chain(x).numpy()
        best = min(best, time.perf_counter() - start)
    return best / calls * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="16,32,64,128,160,192,256,384,512,1024,4096",
                        help="comma-separated row counts")
    parser.add_argument("--width", default="384,1536",
                        help="values per row of the quantized inputs (hidden and intermediate)")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from ner import bert

    if not (bert.fused_layer_norm_available() and bert.fused_int8_available()):
        raise SystemExit("op_crossover.py: error: this TensorFlow build has no oneDNN "
                         "LayerNorm or int8 kernels")
    rows = [int(r) for r in args.rows.split(",")]
    widths = [int(w) for w in args.width.split(",")]
    hidden = widths[0]
    norm = bert._LayerNorm("crossover", hidden, 1e-12)

    def quantize(way):
        def step(x):
            lo = tf.minimum(tf.reduce_min(x), 0.0)
            return tf.bitcast(way(x, lo, tf.maximum(tf.reduce_max(x), lo + 1e-6))[0], tf.uint8)
        return step

    print(f"microseconds per call, best of {args.repeats} x {args.calls} calls")
    print(f"{'step':<10} {'shape':>12} {'oneDNN':>9} {'plain ops':>10}  the constant picks")
    for r in rows:
        x = tf.random.stateless_normal([r, hidden], [1, r])
        fused = _per_call(lambda x: bert._fused_layer_norm(x, norm.gamma, norm.beta, norm.eps),
                          x, args.calls, args.repeats)
        plain = _per_call(norm._written_out, x, args.calls, args.repeats)
        pick = "oneDNN" if r >= bert.FUSED_LAYER_NORM_MIN_ROWS else "plain ops"
        print(f"{'LayerNorm':<10} {f'[{r}, {hidden}]':>12} {fused:9.1f} {plain:10.1f}  {pick}",
              flush=True)
    for w in widths:
        for r in rows:
            x = tf.random.stateless_normal([r, w], [2, r])
            kernel = _per_call(quantize(bert._quantize_kernel), x, args.calls, args.repeats)
            plain = _per_call(quantize(bert._quantize_written_out), x, args.calls, args.repeats)
            pick = "oneDNN" if r * w >= bert.ONEDNN_QUANTIZE_MIN_VALUES else "plain ops"
            print(f"{'quantize':<10} {f'[{r}, {w}]':>12} {kernel:9.1f} {plain:10.1f}  {pick}",
                  flush=True)


if __name__ == "__main__":
    main()
