"""Teacher outputs computed once per dataset and kept on disk.

A training step then reads the teacher's logits (and the hidden states of the mapped
layers, when they fit) by example index instead of running the teacher. Entries are keyed
by the teacher (its baseline cache key or checkpoint) and the tokenized data's
fingerprint. Hidden states are stored unpadded, flat over tokens, in float16, so a batch
padded to any length can be rebuilt from ``offsets`` and ``lengths``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from filelock import FileLock
from torch import nn
from tqdm.auto import tqdm

from nlpcompress.config.hashing import stable_hash
from nlpcompress.distill.objective import Outputs
from nlpcompress.distill.outputs import run_model
from nlpcompress.storage.entry import discard, staged_entry, valid_entry

log = logging.getLogger(__name__)
CACHE_VERSION = 1
HIDDEN_DTYPE = torch.float16
OUTPUTS_FILE = "outputs.pt"


@dataclass
class TeacherCache:
    """Teacher outputs for every example of a split, addressed by the batch's ``idx``.

    Attributes:
        logits: ``(N, C)`` float32.
        lengths: ``(N,)`` real tokens per example.
        offsets: ``(N,)`` start of each example in the flat hidden tensors.
        hidden: teacher layer -> ``(T, H)`` flat hidden states (T = total real tokens).
        embeddings: ``(T, H)`` flat embedding outputs, or None.
        build_seconds: time spent computing it (0 when read from disk).
        from_disk: whether it was read back from an earlier run.
    """

    logits: torch.Tensor
    lengths: torch.Tensor
    offsets: torch.Tensor
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)
    embeddings: torch.Tensor | None = None
    build_seconds: float = 0.0
    from_disk: bool = False

    def lookup(self, batch: Mapping[str, torch.Tensor]) -> Outputs:
        """Teacher :class:`Outputs` for ``batch`` (needs ``idx`` and ``attention_mask``).

        Raises:
            RuntimeError: the batch's token counts differ from the cached ones (stale cache).
        """
        idx = batch["idx"].long().cpu()
        mask = batch["attention_mask"]
        out = Outputs(logits=self.logits[idx].to(mask.device))
        if not self.hidden and self.embeddings is None:
            return out
        lengths = self.lengths[idx]
        if not torch.equal(lengths, mask.long().sum(dim=1).cpu()):
            raise RuntimeError(
                "teacher cache does not match the batch's token counts: stale cache, delete it"
            )
        pos = torch.arange(mask.shape[1])
        valid = pos[None, :] < lengths[:, None]
        flat = torch.where(
            valid, self.offsets[idx][:, None] + pos[None, :], torch.zeros((), dtype=torch.long)
        )

        def rebuild(t: torch.Tensor) -> torch.Tensor:
            return (t[flat].float() * valid[..., None]).to(mask.device)

        out.hidden = {layer: rebuild(t) for layer, t in self.hidden.items()}
        if self.embeddings is not None:
            out.embeddings = rebuild(self.embeddings)
        return out

    def covers(self, hidden_layers: Iterable[int], embeddings: bool) -> bool:
        """Whether the cache holds everything these losses need (attention is never cached)."""
        return all(i in self.hidden for i in hidden_layers) and (
            not embeddings or self.embeddings is not None
        )


def cache_key(
    teacher_id: str, data_fingerprint: str, layers: Iterable[int], embeddings: bool
) -> str:
    return stable_hash(
        {
            "v": CACHE_VERSION,
            "teacher": teacher_id,
            "data": data_fingerprint,
            "layers": sorted(layers),
            "embeddings": embeddings,
        }
    )


def hidden_bytes(total_tokens: int, width: int, n_tensors: int) -> int:
    """Bytes of ``n_tensors`` flat float16 hidden tensors."""
    return total_tokens * width * n_tensors * torch.finfo(HIDDEN_DTYPE).bits // 8


@torch.no_grad()
def compute_teacher_cache(
    teacher: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    size: int,
    layers: Iterable[int] = (),
    embeddings: bool = False,
) -> TeacherCache:
    """Run ``teacher`` (eval mode) once over ``batches`` (every example of a split).

    Args:
        teacher: the teacher classifier.
        batches: batches with ``idx`` covering ``0..size-1`` exactly once.
        size: number of examples.
        layers: teacher layers whose hidden states to keep (empty: logits only).
        embeddings: also keep the embedding outputs.
    """
    layers = sorted(set(layers))
    was_training = teacher.training
    teacher.eval()
    start = time.perf_counter()
    logits: torch.Tensor | None = None
    lengths = torch.zeros(size, dtype=torch.long)
    pieces: dict[object, list[tuple[int, torch.Tensor]]] = {i: [] for i in layers}
    if embeddings:
        pieces["emb"] = []
    seen = torch.zeros(size, dtype=torch.bool)
    # on a terminal: a bar (MiniLM-L6 over 10k sentences is minutes on 2 cores)
    for batch in tqdm(batches, desc="teacher outputs", unit="batch", leave=False, disable=None):
        out = run_model(teacher, batch, hidden=bool(layers), embeddings=embeddings, layers=layers)
        idx = batch["idx"].long()
        if logits is None:
            logits = torch.zeros(size, out.logits.shape[-1])
        logits[idx] = out.logits.float()
        seen[idx] = True
        n = batch["attention_mask"].long().sum(dim=1)
        lengths[idx] = n
        for row, (i, k) in enumerate(zip(idx.tolist(), n.tolist(), strict=True)):
            for layer in layers:
                pieces[layer].append((i, out.hidden[layer][row, :k].to(HIDDEN_DTYPE)))
            if embeddings:
                pieces["emb"].append((i, out.embeddings[row, :k].to(HIDDEN_DTYPE)))
    teacher.train(was_training)
    if logits is None or not bool(seen.all()):
        raise ValueError(f"teacher cache: batches covered {int(seen.sum())} of {size} examples")
    offsets = torch.cumsum(lengths, 0) - lengths

    def flat(key) -> torch.Tensor:
        return torch.cat([t for _, t in sorted(pieces[key], key=lambda p: p[0])], dim=0)

    return TeacherCache(
        logits,
        lengths,
        offsets,
        {layer: flat(layer) for layer in layers},
        flat("emb") if embeddings else None,
        time.perf_counter() - start,
    )


def load_or_compute(folder: Path, compute) -> TeacherCache:
    """Read the cache entry ``folder``, or ``compute()`` it and write it (under a file lock).

    The entry holds ``outputs.pt`` under a manifest (:mod:`nlpcompress.storage.entry`): an
    entry that does not match it, or that does not load, is recomputed with one log line.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if valid_entry(folder, "teacher outputs"):
            try:
                data = torch.load(folder / OUTPUTS_FILE, map_location="cpu", weights_only=True)
                if data.get("version") != CACHE_VERSION:
                    raise ValueError(f"version {data.get('version')!r} is not {CACHE_VERSION}")
                return TeacherCache(
                    data["logits"],
                    data["lengths"],
                    data["offsets"],
                    {int(k): v for k, v in data["hidden"].items()},
                    data["embeddings"],
                    0.0,
                    True,
                )
            except (OSError, RuntimeError, KeyError, EOFError, ValueError) as err:
                discard(folder, "teacher outputs", f"unreadable ({err})")
        cache = compute()
        with staged_entry(folder) as tmp:
            torch.save(
                {
                    "version": CACHE_VERSION,
                    "logits": cache.logits,
                    "lengths": cache.lengths,
                    "offsets": cache.offsets,
                    "hidden": {str(k): v for k, v in cache.hidden.items()},
                    "embeddings": cache.embeddings,
                },
                tmp / OUTPUTS_FILE,
            )
        return cache
