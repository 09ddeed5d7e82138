"""PCA initialisation of a narrow student's embeddings from the teacher's (fixed tensors)."""

from __future__ import annotations

import pytest
import torch

from nlpcompress.distill.students import init_embeddings_from_teacher_pca, principal_directions
from tests.unit.distill.conftest import tiny_bert


def test_principal_directions_are_orthonormal_and_span_a_low_rank_table():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(6, 2, generator=g)).Q  # a 2-d subspace of R^6
    coords = torch.randn(40, 2, generator=g) * torch.tensor([3.0, 1.0])
    table = coords @ basis.T + torch.randn(6, generator=g)  # plus a common offset
    p = principal_directions(table, 2)
    assert p.shape == (6, 2)
    torch.testing.assert_close(p.T @ p, torch.eye(2), atol=1e-5, rtol=0)
    centred = table - table.mean(0)
    torch.testing.assert_close(centred @ p @ p.T, centred, atol=1e-4, rtol=0)
    # first direction = the larger variance (3.0 vs 1.0), up to sign
    assert abs(float(p[:, 0] @ (basis @ torch.tensor([1.0, 0.0])))) > 0.99
    # deterministic sign: each column's largest entry is positive
    assert bool((p.gather(0, p.abs().argmax(0, keepdim=True)) > 0).all())


def test_student_tables_are_the_teachers_projected():
    teacher = tiny_bert(layers=2, hidden=16, heads=4)
    student = tiny_bert(layers=1, hidden=8, heads=2, seed=3)
    p = init_embeddings_from_teacher_pca(student, teacher)
    assert p.shape == (16, 8)
    s, t = student.bert.embeddings, teacher.bert.embeddings
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        got, want = getattr(s, name).weight, getattr(t, name).weight @ p
        torch.testing.assert_close(got, want)
    words = t.word_embeddings.weight
    torch.testing.assert_close(p, principal_directions(words, 8))


def test_pca_needs_a_narrower_student():
    teacher = tiny_bert(hidden=16)
    with pytest.raises(ValueError, match="narrower student"):
        init_embeddings_from_teacher_pca(tiny_bert(hidden=16, seed=2), teacher)
