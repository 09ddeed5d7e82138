"""Why movement pruning from a *fine-tuned* model collapses: prune by its early scores, one
shot, and compare with random and magnitude masks of the same per-matrix sparsity.

Trains movement scores (Adam, lr 1e-2, or with ``--scores-sgd`` plain SGD, which accumulates the
paper's ``S = -sum_t dL/dW_t * W_t`` exactly; weights AdamW, lr 3e-5) for ``--steps`` steps on SST-2
sentences starting from a cached fine-tuned MiniLM-L6 baseline, then evaluates, with no
recovery training, masks that keep the same fraction of every matrix by: the movement scores
(per matrix, per row, per column, the inverted ranking and |S|), random scores, and ``|W|``.
A second table asks whether the damage is a shift of each layer's output mean: for movement,
random and magnitude masks it gives the mean output shift ``|sum_j W_ij (1 - M_ij) mu_j|``
(``mu``: the layer's mean input over 256 held-out training sentences) relative to the mean
``|output mean|``, and the accuracy once every bias absorbs that shift (``b_i += sum_j W_ij
(1 - M_ij) mu_j``). A third table gives, per row, how many of the removed contributions
``W_ij mu_j`` share one sign (:func:`sign_coherence`). The figures quoted in ``experiments/movement_pruning.md`` come from this
script.

    .venv/bin/python benchmarks/movement_score_probe.py outputs/cache/baselines/<key>/model
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
from sst2_probe import SST2Probe, read_split

from nlpcompress.prune.bert import prunable_linears
from nlpcompress.prune.masking import attach_masks
from nlpcompress.prune.masks import topk_mask
from nlpcompress.prune.movement import masked_modules
from nlpcompress.storage.format import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", help="stem of a stored baseline (…/model)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--eval", type=int, default=400, help="dev sentences evaluated")
    ap.add_argument(
        "--scores-sgd",
        action="store_true",
        help="plain SGD for the scores: S = -sum_t dL/dW_t * W_t exactly (the paper's formula; "
        "the ranking does not depend on the learning rate), instead of Adam's per-score "
        "normalised steps",
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    probe = SST2Probe(args.eval)
    encode, accuracy = probe.encode, probe.accuracy
    train = read_split("train").sample(32 * args.steps + 256, random_state=0)

    base = load_model(Path(args.baseline))
    model = copy.deepcopy(base)
    masks = attach_masks(prunable_linears(model), "movement", "hard")
    score_params = [p.scores for p in masks.values()]
    opt_scores = (
        torch.optim.SGD(score_params, lr=1.0)
        if args.scores_sgd
        else torch.optim.Adam(score_params, lr=1e-2)
    )
    opt_weights = torch.optim.AdamW(
        [p for n, p in model.named_parameters() if not n.endswith("scores")], lr=3e-5
    )
    model.train()
    for step in range(args.steps):
        rows = train.iloc[32 * step : 32 * (step + 1)]
        x = encode(rows["sentence"])
        loss = torch.nn.functional.cross_entropy(
            model(**x).logits, torch.tensor(rows["label"].tolist())
        )
        opt_scores.zero_grad()
        opt_weights.zero_grad()
        loss.backward()
        opt_scores.step()
        opt_weights.step()
    state = {
        k.replace("parametrizations.weight.original", "weight"): v
        for k, v in model.state_dict().items()
        if not k.endswith("scores")
    }
    scores = {n: p.scores.detach() for n, _, p in masked_modules(model)}
    rules = {
        "movement (per matrix)": lambda s, w, f: topk_mask(s, f),
        "movement (per row)": lambda s, w, f: torch.stack([topk_mask(r, f) for r in s]),
        "movement (per column)": lambda s, w, f: torch.stack([topk_mask(c, f) for c in s.T]).T,
        # the opposite ranking: prune the weights that moved *away* from zero; if this beat
        # random, the scores would rank by importance with the wrong sign
        "movement inverted": lambda s, w, f: topk_mask(-s, f),
        # prune the scores nearest zero, keep both tails: if this beats random, |S| ranks by
        # sensitivity (a consistent gradient sign), whatever the direction of the movement
        "movement |S|": lambda s, w, f: topk_mask(s.abs(), f),
        "random": lambda s, w, f: topk_mask(torch.randn_like(s), f),
        "magnitude": lambda s, w, f: topk_mask(w.abs(), f),
    }
    print(f"dense after {args.steps} steps: {accuracy(model):.3f}")
    print("| sparsity | " + " | ".join(rules) + " |")
    for sparsity in (0.2, 0.5, 0.9):
        row = []
        for rule in rules.values():
            pruned = copy.deepcopy(base)
            pruned.load_state_dict(state)
            with torch.no_grad():
                for name, module in prunable_linears(pruned).items():
                    module.weight.mul_(rule(scores[name], module.weight, sparsity))
            row.append(f"{accuracy(pruned):.3f}")
        print(f"| {sparsity:.0%} | " + " | ".join(row) + " |")
    trained = copy.deepcopy(base)
    trained.load_state_dict(state)
    means = input_means(trained, encode(train.iloc[32 * args.steps :]["sentence"]))
    print(
        "| mask | sparsity | accuracy | output means restored | mean shift / mean |output mean| |"
    )
    for sparsity in (0.2, 0.5):
        for label in ("movement (per matrix)", "random", "magnitude"):
            masks = {  # one mask for both columns
                name: rules[label](scores[name], module.weight, sparsity)
                for name, module in prunable_linears(trained).items()
            }
            cells = []
            for restore in (False, True):
                pruned = copy.deepcopy(trained)
                shifts = []
                with torch.no_grad():
                    for name, module in prunable_linears(pruned).items():
                        mask = masks[name]
                        shift = (module.weight * (1 - mask)) @ means[name]
                        mean_out = (module.weight @ means[name] + module.bias).abs().mean()
                        shifts.append(float(shift.abs().mean() / mean_out))
                        module.weight.mul_(mask)
                        if restore:
                            module.bias.add_(shift)
                cells.append(f"{accuracy(pruned):.3f}")
            shift_ratio = sum(shifts) / len(shifts)
            print(f"| {label} | {sparsity:.0%} | {' | '.join(cells)} | {shift_ratio:.2f} |")
    print("| mask (20%) | sign coherence of the removed W_ij mu_j per row |")
    for label in ("movement (per matrix)", "random", "magnitude"):
        values = [
            sign_coherence(module.weight.detach(), rules[label](scores[name], module.weight, 0.2),
                           means[name])
            for name, module in prunable_linears(trained).items()
        ]  # fmt: skip
        print(f"| {label} | {sum(values) / len(values):.3f} |")


def sign_coherence(weight: torch.Tensor, mask: torch.Tensor, mu: torch.Tensor) -> float:
    """Mean over rows of the share of the row's removed contributions ``W_ij mu_j`` that have
    the row's majority sign: 0.5 when their signs are balanced (they cancel in the output mean),
    1.0 when they all push the output mean the same way."""
    contrib = torch.sign(weight * mu[None, :])
    removed = 1 - mask
    count = removed.sum(1)
    positive = ((contrib > 0).float() * removed).sum(1)
    rows = count > 0
    share = positive[rows] / count[rows]
    return float(torch.maximum(share, 1 - share).mean())


def input_means(model, enc: dict) -> dict[str, torch.Tensor]:
    """Mean input of every prunable Linear over the real (unpadded) tokens of ``enc``."""
    real = enc["attention_mask"].bool()
    means, hooks = {}, []
    for name, module in prunable_linears(model).items():

        def hook(_module, inputs, _output, name=name):
            means[name] = inputs[0][real].mean(0)

        hooks.append(module.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(**enc)
    for h in hooks:
        h.remove()
    return means


if __name__ == "__main__":
    main()
