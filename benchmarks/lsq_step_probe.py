"""How the first LSQ step decides what 2-bit weights look like: min/max vs the paper's init.

For every encoder Linear of a stored fp32 model, in groups of 64 (the ``lsq_cpu`` preset), it
quantizes to the symmetric 2-bit grid (codes -1, 0, 1) with three steps per group and prints the
relative squared error ``sum (q(w) - w)^2 / sum w^2``, the share of weights rounded to 0 and the
mean step relative to ``max|w|``:

* ``minmax``: ``s = max|w| / Q_P`` (plain STE QAT's fixed grid, and ``quant.lsq_init=minmax``);
* ``lsq``: ``s = 2 mean|w| / sqrt(Q_P)`` (the LSQ paper's init, ``quant.lsq_init=lsq``);
* the per-group MSE optimum over ``s = f max|w|``, ``f`` in [0.2, 1].

    .venv/bin/python benchmarks/lsq_step_probe.py outputs/cache/baselines/<key>/model
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from nlpcompress.quant.modules import WeightSpec, lsq_initial_scale
from nlpcompress.quant.quantizers import group_view
from nlpcompress.storage.format import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="stem of a stored model (…/model)")
    ap.add_argument("--group-size", type=int, default=64)
    args = ap.parse_args()
    model = load_model(Path(args.model))
    totals: dict[str, list[float]] = {}
    for name, module in model.named_modules():
        if not (isinstance(module, torch.nn.Linear) and "encoder" in name):
            continue
        w = module.weight.detach()
        v = group_view(w, "per_group", args.group_size)
        absmax = v.abs().amax(-1, keepdim=True)
        spec = WeightSpec("int", 2, granularity="per_group", group_size=args.group_size)
        steps = {
            "minmax (s = max|w|)": lsq_initial_scale(
                w, WeightSpec(**(spec.as_dict() | {"lsq_init": "minmax"}))
            ),
            "LSQ paper init (s = 2 mean|w|)": lsq_initial_scale(w, spec),
        }
        best_err, best_s = None, None
        for f in torch.linspace(0.2, 1.0, 33):
            s = f * absmax
            err = ((torch.clamp(torch.round(v / s), -1, 1) * s - v) ** 2).sum(-1, keepdim=True)
            better = err < best_err if best_err is not None else torch.ones_like(err, dtype=bool)
            best_err = err if best_err is None else torch.where(better, err, best_err)
            best_s = s if best_s is None else torch.where(better, s, best_s)
        steps["per-group MSE optimum"] = best_s
        for label, s in steps.items():
            q = torch.clamp(torch.round(v / s), -1, 1)
            row = totals.setdefault(label, [0.0, 0.0, 0.0, 0])
            row[0] += float(((q * s - v) ** 2).sum() / (v**2).sum())
            row[1] += float((q == 0).float().mean())
            row[2] += float((s / absmax).mean())
            row[3] += 1
    print("| 2-bit step | relative squared error | weights at 0 | step / max|w| |")
    print("|---|---|---|---|")
    for label, (err, zeros, ratio, n) in totals.items():
        print(f"| {label} | {err / n:.3f} | {zeros / n:.1%} | {ratio / n:.2f} |")


if __name__ == "__main__":
    main()
