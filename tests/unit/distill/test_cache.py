"""The teacher-output cache: same values as a teacher pass, any batch order/padding, on disk."""

from __future__ import annotations

import pytest
import torch

from nlpcompress.distill.cache import cache_key, compute_teacher_cache, load_or_compute
from nlpcompress.distill.outputs import run_model
from tests.unit.distill.conftest import make_batch


def _dataset():
    lengths = [5, 3, 7, 2, 6]
    full = make_batch(lengths, seed=9)
    rows = [{k: v[i] for k, v in full.items()} for i in range(len(lengths))]
    return rows, lengths


def _collate(rows, pad_to=None):
    width = pad_to or max(int(r["attention_mask"].sum()) for r in rows)
    out = {k: torch.stack([r[k][:width] if r[k].dim() else r[k] for r in rows]) for k in rows[0]}
    if out["input_ids"].shape[1] < width:
        pad = width - out["input_ids"].shape[1]
        for k in ("input_ids", "attention_mask", "token_type_ids"):
            out[k] = torch.nn.functional.pad(out[k], (0, pad))
    return out


def test_cache_matches_a_teacher_pass_for_any_order_and_padding(teacher, tmp_path):
    rows, _ = _dataset()
    ordered = [_collate(rows[0:2]), _collate(rows[2:5])]
    cache = compute_teacher_cache(teacher, ordered, 5, layers=[1, 3], embeddings=True)
    shuffled = _collate([rows[4], rows[1], rows[2]], pad_to=9)
    got = cache.lookup(shuffled)
    with torch.no_grad():
        ref = run_model(teacher, shuffled, hidden=True, embeddings=True, layers=[1, 3])
    torch.testing.assert_close(got.logits, ref.logits, rtol=1e-4, atol=1e-5)
    mask = shuffled["attention_mask"].bool()
    for layer in (1, 3):
        torch.testing.assert_close(
            got.hidden[layer][mask], ref.hidden[layer][mask], rtol=2e-3, atol=2e-3
        )
        assert torch.all(got.hidden[layer][~mask] == 0)
    torch.testing.assert_close(got.embeddings[mask], ref.embeddings[mask], rtol=2e-3, atol=2e-3)
    assert cache.covers([1, 3], True) and not cache.covers([0], False)


def test_stale_cache_is_detected(teacher):
    rows, _ = _dataset()
    cache = compute_teacher_cache(teacher, [_collate(rows)], 5, layers=[0])
    wrong = _collate(rows[:2])
    wrong["attention_mask"][0, 4] = 0
    with pytest.raises(RuntimeError, match="stale"):
        cache.lookup(wrong)


def test_incomplete_coverage_is_refused(teacher):
    rows, _ = _dataset()
    with pytest.raises(ValueError, match="covered 2 of 5"):
        compute_teacher_cache(teacher, [_collate(rows[:2])], 5)


def test_written_once_then_read_back(teacher, tmp_path):
    rows, _ = _dataset()
    calls = []

    def compute():
        calls.append(1)
        return compute_teacher_cache(teacher, [_collate(rows)], 5, layers=[2])

    path = tmp_path / "c"
    first = load_or_compute(path, compute)
    second = load_or_compute(path, compute)
    assert calls == [1] and not first.from_disk and second.from_disk
    assert torch.equal(first.logits, second.logits) and torch.equal(
        first.hidden[2], second.hidden[2]
    )
    assert cache_key("t", "d", [1, 3], False) != cache_key("t", "d", [1, 3], True)
    assert cache_key("t", "d", [3, 1], False) == cache_key("t", "d", [1, 3], False)
