"""Time an ONNX model on OpenVINO's CPU plugin in a fresh process (as ``ort_worker`` for ORT).

Usage: ``python -m nlpcompress.measure.openvino_worker MODEL.onnx THREADS SEED VOCAB JOBS``
(the arguments and the printed ``{"ms": [[...], ...]}`` of ``ort_worker``). Imports openvino
and numpy only.
"""

from __future__ import annotations

import json
import sys

from nlpcompress.measure.ort_worker import parse_args, time_jobs


def compile_model(path: str, threads: int):
    """``openvino.Core().compile_model`` on CPU with ``threads`` threads, the latency hint and
    fp32 arithmetic.

    The precision is set because OpenVINO's CPU plugin defaults to bf16 where the CPU has it
    (seen on a Sapphire Rapids: ``INFERENCE_PRECISION_HINT`` read ``bfloat16``, and a tiny
    BERT's logits moved by 2.5e-4 against 1.5e-8 with ``f32``): the fp32 candidate must
    compute in fp32.
    """
    import openvino as ov

    config = {
        "INFERENCE_NUM_THREADS": str(threads),
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    return ov.Core().compile_model(path, "CPU", config)


def input_names(compiled) -> list[str]:
    return [port.get_any_name() for port in compiled.inputs]


def main(argv: list[str]) -> None:
    path, threads, seed, vocab, jobs = parse_args(argv)
    compiled = compile_model(path, threads)
    request = compiled.create_infer_request()
    names = input_names(compiled)
    print(json.dumps({"ms": time_jobs(request.infer, names, jobs, seed, vocab)}))


if __name__ == "__main__":
    main(sys.argv[1:])
