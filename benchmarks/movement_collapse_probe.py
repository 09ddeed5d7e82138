"""Is a collapsed pruned model a trap? Per-layer token cosines of a baseline and of a pruned
model, then fine-tuning of the pruned model with its zeros kept (its mask fixed).

For each hidden state of both models, on 64 SST-2 dev sentences: the mean token cosine
(:func:`~nlpcompress.prune.collapse.token_cosine`) and the three hidden dimensions with the
largest mean ``|h|`` over the real tokens. Then ``--steps`` steps of AdamW (batch 32, clipping
at 1) on SST-2 training sentences, the pruned weights put back to zero after every step, with
accuracy on 400 dev sentences every 50 steps, and the per-layer table again. The table
"What a collapsed model is" of ``experiments/movement_pruning.md`` comes from

    .venv/bin/python benchmarks/movement_collapse_probe.py \\
        outputs/cache/baselines/<key>/model <run artifacts>/model/model
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sst2_probe import SST2Probe, read_split

from nlpcompress.prune.bert import prunable_linears
from nlpcompress.prune.collapse import token_cosine
from nlpcompress.storage.format import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", help="stem of the stored fp32 baseline (…/model)")
    ap.add_argument("pruned", help="stem of the stored pruned model (…/model)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1e-4)
    args = ap.parse_args()
    torch.manual_seed(0)
    probe = SST2Probe(400)
    encode, enc, accuracy = probe.encode, probe.dev, probe.accuracy
    train = read_split("train").sample(32 * args.steps, random_state=1)

    def layers(model, name: str) -> None:
        model.eval()
        batch = {k: v[:64] for k, v in enc.items()}
        with torch.no_grad():
            hidden = model(**batch, output_hidden_states=True).hidden_states
        real = batch["attention_mask"].bool()
        print(f"{name}: accuracy {accuracy(model):.3f}")
        for i, h in enumerate(hidden):
            size = h[real].abs().mean(0).topk(3)
            dims = ", ".join(
                f"{d}: {v:.1f}"
                for d, v in zip(size.indices.tolist(), size.values.tolist(), strict=True)
            )
            cosine = token_cosine(h, batch["attention_mask"])
            print(f"  hidden state {i}: token cosine {cosine:.3f}; largest mean |h| {dims}")

    layers(load_model(Path(args.baseline)), "baseline")
    pruned = load_model(Path(args.pruned))
    layers(pruned, "pruned")
    masks = {n: (m.weight != 0).float() for n, m in prunable_linears(pruned).items()}
    optimizer = torch.optim.AdamW(pruned.parameters(), lr=args.lr, weight_decay=0.01)
    for step in range(args.steps):
        pruned.train()
        rows = train.iloc[32 * step : 32 * (step + 1)]
        loss = torch.nn.functional.cross_entropy(
            pruned(**encode(rows["sentence"])).logits, torch.tensor(rows["label"].tolist())
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(pruned.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            for name, module in prunable_linears(pruned).items():
                module.weight.mul_(masks[name])
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: loss {loss.item():.3f}, dev accuracy {accuracy(pruned):.3f}")
    layers(pruned, f"pruned, after {args.steps} steps with its mask fixed")


if __name__ == "__main__":
    main()
