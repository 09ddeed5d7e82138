"""Time an ONNX model in a fresh process (ORT's spinning threads would disturb torch timing).

Usage: ``python -m nlpcompress.measure.ort_worker MODEL.onnx THREADS SEED VOCAB JOBS``, where
``JOBS`` is a JSON list of ``[batch, seq, warmup, iters]``; prints one JSON line
``{"ms": [[...], ...]}``, one list of per-call milliseconds per job, in order. One process
times every shape of one round (batch-1 latency and batch-B throughput, or each sequence
length), so the session is built once per round, not once per shape. Imports onnxruntime
and numpy only.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

# ONNX Runtime graph rewrites left out of every session this project builds. Its
# SkipLayerNormFusion folds each residual Add + LayerNormalization back into the contrib op
# SkipLayerNormalization, whose CPU kernel (ORT 1.32) was the slowest node of the int8 graph.
# benchmarks/skip_layernorm_speed.py, Sapphire Rapids, 2 threads, 64 tokens, idle: MiniLM-L6 int8
# 3.27 -> 2.61 ms at batch 1 (2.31x -> 3.20x fp32 eager at batch 32); the compact_minilm shape
# (3 layers, 4 heads, FFN 384) 1.15 -> 0.78 ms (9.95x -> 16.85x at batch 32).
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


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


def parse_args(argv: list[str]) -> tuple[str, int, int, int, list[list[int]]]:
    """``MODEL THREADS SEED VOCAB JOBS`` -> (path, threads, seed, vocab, jobs)."""
    path, threads, seed, vocab = argv[0], *map(int, argv[1:4])
    jobs = json.loads(argv[4])
    return path, threads, seed, vocab, jobs


def time_jobs(
    run: Callable[[dict], object],
    input_names: list[str],
    jobs: list[list[int]],
    seed: int,
    vocab: int,
) -> list[list[float]]:
    """Per job ``[batch, seq, warmup, iters]``: ``warmup`` untimed calls, then ``iters`` timed."""
    out = []
    for batch, seq, warmup, iters in jobs:
        feed = synthetic_feed(input_names, batch, seq, seed, vocab)
        for _ in range(warmup):
            run(feed)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            run(feed)
            times.append((time.perf_counter() - start) * 1000.0)
        out.append(times)
    return out


def open_session(path, threads: int, spinning: bool = True, optimized_path=None):
    """An ONNX Runtime CPU session on ``threads`` threads, without :data:`DISABLED_OPTIMIZERS`.

    Args:
        spinning: let idle worker threads spin (off where torch runs in the same process).
        optimized_path: where ORT writes the graph it runs after its own rewrites (for tests).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(
        str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS
    )


def main(argv: list[str]) -> None:
    path, threads, seed, vocab, jobs = parse_args(argv)
    session = open_session(path, threads)
    names = [i.name for i in session.get_inputs()]
    print(json.dumps({"ms": time_jobs(lambda f: session.run(None, f), names, jobs, seed, vocab)}))


if __name__ == "__main__":
    main(sys.argv[1:])
