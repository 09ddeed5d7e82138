"""Latency and throughput, measured side by side against a reference.

Candidates are timed in alternating rounds (reference, candidate, reference, ...), after a
warm-up, back to back. Torch modules run in this process with a fixed thread count; ONNX
models run in a fresh process per round, which times every shape of that round
(``measure.ort_worker``, or ``measure.openvino_worker`` for an ONNX file deployed on
OpenVINO), so a runtime's spinning threads never overlap a torch timing. Inputs are
synthetic token ids of the configured length with a full attention mask, drawn from
``[min(1000, V/2), V)`` with ``V`` = 30000 or the deployable's ``vocab_size`` when smaller
(a pruned vocabulary).

Reported per candidate: p50/p90 latency at batch 1 (ms) and throughput at batch B
(samples/s = B * 1000 / median batch latency); optionally p50 latency at batch 1 for each of
``measure.seq_lengths`` (:func:`latency_by_length`).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch

from nlpcompress.config.schema import MeasureConfig
from nlpcompress.export.deploy import Deployable, OnnxDeployable, TorchDeployable

SYNTHETIC_VOCAB = 30000
# the fresh-process timer of each runtime that runs an ONNX file
ONNX_WORKERS = {
    "onnxruntime": "nlpcompress.measure.ort_worker",
    "openvino": "nlpcompress.measure.openvino_worker",
}


@dataclass
class SpeedResult:
    latency_ms_p50: float
    latency_ms_p90: float
    throughput: float
    latencies_ms: list[float]


def synthetic_inputs(
    batch: int, seq: int, seed: int = 0, vocab: int = SYNTHETIC_VOCAB
) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(min(1000, vocab // 2), vocab, (batch, seq), generator=gen),
        "attention_mask": torch.ones(batch, seq, dtype=torch.long),
        "token_type_ids": torch.zeros(batch, seq, dtype=torch.long),
    }


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@torch.inference_mode()
def time_torch(
    module: torch.nn.Module, inputs: dict[str, torch.Tensor], warmup: int, iters: int
) -> list[float]:
    module.eval()
    for _ in range(warmup):
        module(**inputs)
    out = []
    for _ in range(iters):
        start = time.perf_counter()
        module(**inputs)
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def time_onnx(
    path,
    jobs: list[tuple[int, int, int, int]],
    threads: int,
    seed: int = 0,
    vocab: int = SYNTHETIC_VOCAB,
    runtime: str = "onnxruntime",
) -> list[list[float]]:
    """Time ``path`` in one fresh process of ``runtime``'s worker, one list of ms per job.

    Args:
        jobs: ``(batch, seq, warmup, iters)`` each, timed in this order by the one session.
    """
    cmd = [
        sys.executable,
        "-m",
        ONNX_WORKERS[runtime],
        str(path),
        str(threads),
        str(seed),
        str(vocab),
        json.dumps(jobs),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"ONNX timing failed for {path}: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])["ms"]


def _time(
    dep: Deployable, shapes: list[tuple[int, int, int]], cfg: MeasureConfig
) -> list[list[float]]:
    """Per ``(batch, seq, iters)`` of ``shapes``, the per-call ms; an ONNX file in one process."""
    vocab = min(SYNTHETIC_VOCAB, dep.vocab_size or SYNTHETIC_VOCAB)
    # A batch of 32 is ~20x a batch of 1: two warm-up calls do for it what ten do at batch 1.
    jobs = [
        (batch, seq, cfg.warmup if batch == 1 else min(cfg.warmup, 2), iters)
        for batch, seq, iters in shapes
    ]
    if isinstance(dep, OnnxDeployable):
        return time_onnx(dep.path, jobs, cfg.threads, vocab=vocab, runtime=dep.backend)
    return [
        time_torch(dep.module, synthetic_inputs(batch, seq, vocab=vocab), warmup, iters)
        for batch, seq, warmup, iters in jobs
    ]


def compare(
    candidates: dict[str, Deployable], cfg: MeasureConfig, progress: bool = False
) -> dict[str, SpeedResult]:
    """Time every candidate in alternating rounds; returns a result per name.

    Args:
        candidates: name -> deployable; the first is usually the fp32 reference.
        cfg: sequence length, threads, iterations, rounds.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    lat: dict[str, list[float]] = {n: [] for n in candidates}
    thr: dict[str, list[float]] = {n: [] for n in candidates}
    per_round = max(5, cfg.latency_iters // cfg.rounds)
    thr_round = max(1, cfg.throughput_iters // cfg.rounds)
    try:
        for r in range(cfg.rounds):
            names = list(candidates) if r % 2 == 0 else list(reversed(candidates))
            for name in names:
                shapes = [
                    (1, cfg.seq_length, per_round),
                    (cfg.throughput_batch, cfg.seq_length, thr_round),
                ]
                one, many = _time(candidates[name], shapes, cfg)
                lat[name] += one
                thr[name] += many
    finally:
        torch.set_num_threads(previous)
    return {
        n: SpeedResult(
            percentile(lat[n], 50),
            percentile(lat[n], 90),
            cfg.throughput_batch * 1000.0 / statistics.median(thr[n]),
            lat[n],
        )
        for n in candidates
    }


def latency_by_length(
    candidates: dict[str, Deployable], cfg: MeasureConfig, lengths: list[int]
) -> dict[int, dict[str, float]]:
    """Batch-1 p50 latency (ms) of every candidate at each sequence length.

    Same alternating rounds as :func:`compare`, at batch 1 only and with half its latency
    iterations per round (at least 5).

    Args:
        candidates: name -> deployable.
        cfg: threads, warm-up, iterations, rounds (its ``seq_length`` is not used).
        lengths: the sequence lengths to time.

    Returns:
        length -> name -> p50 latency in ms.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    per_round = max(5, cfg.latency_iters // (2 * cfg.rounds))
    lat = {seq: {n: [] for n in candidates} for seq in lengths}
    try:
        for r in range(cfg.rounds):
            names = list(candidates) if r % 2 == 0 else list(reversed(candidates))
            for name in names:
                timed = _time(candidates[name], [(1, seq, per_round) for seq in lengths], cfg)
                for seq, ms in zip(lengths, timed, strict=True):
                    lat[seq][name] += ms
    finally:
        torch.set_num_threads(previous)
    return {seq: {n: percentile(v, 50) for n, v in lat[seq].items()} for seq in lengths}


__all__ = [
    "SpeedResult",
    "compare",
    "latency_by_length",
    "synthetic_inputs",
    "TorchDeployable",
    "OnnxDeployable",
]
