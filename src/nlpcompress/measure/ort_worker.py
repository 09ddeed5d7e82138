"""Time an ONNX model in a fresh process (ORT's spinning threads would disturb torch timing).

Usage: ``python -m nlpcompress.measure.ort_worker MODEL.onnx BATCH SEQ THREADS WARMUP ITERS SEED [VOCAB]``;
prints one JSON line ``{"ms": [...]}``. Imports onnxruntime and numpy only.
"""

from __future__ import annotations

import json
import sys
import time


def synthetic_feed(
    input_names: list[str], batch: int, seq: int, seed: int, vocab: int = 30000
) -> dict:
    """Random token ids in ``[min(1000, vocab // 2), vocab)``, an all-ones mask, zero types."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feed = {}
    for name in input_names:
        if "mask" in name:
            feed[name] = np.ones((batch, seq), dtype=np.int64)
        elif "type" in name:
            feed[name] = np.zeros((batch, seq), dtype=np.int64)
        else:
            low = min(1000, vocab // 2)
            feed[name] = rng.integers(low, vocab, size=(batch, seq), dtype=np.int64)
    return feed


def main(argv: list[str]) -> None:
    import onnxruntime as ort

    path, batch, seq, threads, warmup, iters, seed = argv[0], *map(int, argv[1:7])
    vocab = int(argv[7]) if len(argv) > 7 else 30000
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feed = synthetic_feed([i.name for i in session.get_inputs()], batch, seq, seed, vocab)
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    print(json.dumps({"ms": times}))


if __name__ == "__main__":
    main(sys.argv[1:])
