"""Time an ONNX model on OpenVINO's CPU plugin in a fresh process (as ``ort_worker`` for ORT).

Usage: ``python -m nlpcompress.measure.openvino_worker MODEL.onnx BATCH SEQ THREADS WARMUP ITERS SEED [VOCAB]``;
prints one JSON line ``{"ms": [...]}``. Imports openvino and numpy only.
"""

from __future__ import annotations

import json
import sys
import time

from nlpcompress.measure.ort_worker import synthetic_feed


def compile_model(path: str, threads: int):
    """``openvino.Core().compile_model`` on CPU with ``threads`` threads and the latency hint."""
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY"}
    return ov.Core().compile_model(path, "CPU", config)


def input_names(compiled) -> list[str]:
    return [port.get_any_name() for port in compiled.inputs]


def main(argv: list[str]) -> None:
    path, batch, seq, threads, warmup, iters, seed = argv[0], *map(int, argv[1:7])
    vocab = int(argv[7]) if len(argv) > 7 else 30000
    compiled = compile_model(path, threads)
    request = compiled.create_infer_request()
    feed = synthetic_feed(input_names(compiled), batch, seq, seed, vocab)
    for _ in range(warmup):
        request.infer(feed)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        request.infer(feed)
        times.append((time.perf_counter() - start) * 1000.0)
    print(json.dumps({"ms": times}))


if __name__ == "__main__":
    main(sys.argv[1:])
