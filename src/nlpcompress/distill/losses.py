"""Distillation losses as plain torch functions, each with its formula.

Shapes: ``B`` batch, ``L`` tokens, ``H`` hidden width, ``A`` attention heads, ``C`` classes.
``mask`` is the ``(B, L)`` attention mask (1 = real token, 0 = padding).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """Logit distillation (Hinton et al., 2015).

    .. math::
        L = \\alpha T^2 \\, \\mathrm{KL}\\big(\\mathrm{softmax}(z_t/T) \\,\\|\\, \\mathrm{softmax}(z_s/T)\\big)
            + (1-\\alpha)\\, \\mathrm{CE}(z_s, y)

    with the KL summed over classes and averaged over the batch ("batchmean"):
    ``KL = (1/B) sum_b sum_c p_t[b,c] (log p_t[b,c] - log p_s[b,c])``. In torch's
    ``F.kl_div(input, target)`` the *input* is the student's log-probabilities and the
    *target* the teacher's probabilities. The ``T^2`` keeps the soft term's gradient scale
    independent of ``T``.

    Args:
        student_logits: ``(B, C)`` raw student scores ``z_s``.
        teacher_logits: ``(B, C)`` raw teacher scores ``z_t``; may be None when ``alpha == 0``.
        labels: ``(B,)`` class indices ``y``.
        temperature: ``T > 0``.
        alpha: weight of the soft term, in ``[0, 1]``; ``alpha = 0`` is plain cross-entropy.

    Returns:
        The scalar loss.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    hard = F.cross_entropy(student_logits, labels)
    if alpha == 0.0:
        return hard
    if teacher_logits is None:
        raise ValueError("teacher_logits are needed when alpha > 0")
    soft = soft_kl(student_logits, teacher_logits, temperature) * temperature**2
    return alpha * soft + (1.0 - alpha) * hard


def soft_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``KL(softmax(z_t/T) || softmax(z_s/T))``, batch mean; no gradient flows to the teacher.

    Args:
        student_logits: ``(B, C)``.
        teacher_logits: ``(B, C)``; detached here.
        temperature: ``T > 0``.
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    p_t = F.softmax(teacher_logits.detach().to(log_p_s.dtype) / temperature, dim=-1)
    return F.kl_div(log_p_s, p_t, reduction="batchmean")


def hidden_mse(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    mask: torch.Tensor | None = None,
    projection: torch.nn.Module | None = None,
) -> torch.Tensor:
    """Hidden-state matching (TinyBERT): ``MSE(W h_s, h_t)`` over real tokens.

    .. math::
        L = \\frac{1}{N H_t} \\sum_{b,l:\\, m_{bl}=1} \\lVert W h_s[b,l] + c - h_t[b,l] \\rVert^2

    where ``N = sum(m)`` is the number of real tokens and ``(W, c)`` is ``projection``
    (identity when the widths agree). Without a mask, ``N = B L`` (plain ``F.mse_loss``).

    Args:
        student_hidden: ``(B, L, H_s)``.
        teacher_hidden: ``(B, L, H_t)``; detached here.
        mask: ``(B, L)`` or None.
        projection: maps ``H_s -> H_t`` (a learned ``nn.Linear``), or None.
    """
    h_s = projection(student_hidden) if projection is not None else student_hidden
    h_t = teacher_hidden.detach().to(h_s.dtype)
    if h_s.shape != h_t.shape:
        raise ValueError(
            f"hidden shapes differ: student {tuple(h_s.shape)} vs teacher {tuple(h_t.shape)}; add a projection"
        )
    sq = (h_s - h_t).pow(2)
    if mask is None:
        return sq.mean()
    m = mask.to(sq.dtype).unsqueeze(-1)
    return (sq * m).sum() / (m.sum() * sq.shape[-1]).clamp_min(1.0)


def embedding_mse(
    student_embeddings: torch.Tensor,
    teacher_embeddings: torch.Tensor,
    mask: torch.Tensor | None = None,
    projection: torch.nn.Module | None = None,
) -> torch.Tensor:
    """Embedding-layer matching (TinyBERT): :func:`hidden_mse` on the embedding outputs.

    ``L = (1 / (N H_t)) sum_{real tokens} ||W e_s + c - e_t||^2``.
    """
    return hidden_mse(student_embeddings, teacher_embeddings, mask, projection)


def match_heads(attention: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Average groups of consecutive heads so that ``attention`` has ``num_heads`` heads.

    ``(B, A, L, L) -> (B, num_heads, L, L)`` with head ``j`` the mean of heads
    ``j*g .. (j+1)*g - 1``, ``g = A / num_heads``. A mean of distributions is a distribution,
    so this is valid for probabilities; for raw scores it averages logits.

    Raises:
        ValueError: ``A`` is not a multiple of ``num_heads``.
    """
    heads = attention.shape[1]
    if heads == num_heads:
        return attention
    if heads % num_heads:
        raise ValueError(f"cannot match {heads} attention heads to {num_heads}: not a multiple")
    b, _, lq, lk = attention.shape
    return attention.reshape(b, num_heads, heads // num_heads, lq, lk).mean(dim=2)


def _pair_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """``(B, 1, L, L)`` mask: 1 where both the query and the key are real tokens."""
    if mask is None:
        return torch.ones_like(like[:, :1])
    m = mask.to(like.dtype)
    return m[:, None, :, None] * m[:, None, None, :]


def attention_mse(
    student_scores: torch.Tensor,
    teacher_scores: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention-map matching (TinyBERT): MSE between attention scores of real token pairs.

    .. math::
        L = \\frac{1}{A \\cdot P} \\sum_{b,a} \\sum_{q,k:\\, m_{bq} m_{bk} = 1}
            \\big(S_s[b,a,q,k] - S_t[b,a,q,k]\\big)^2

    where ``P = sum_b (sum_l m_bl)^2`` counts real (query, key) pairs. TinyBERT uses the
    pre-softmax scores ``S = Q K^T / sqrt(d)``; pass them (see
    :func:`nlpcompress.distill.attention.attention_scores`) or probabilities. Padding
    pairs (where the scores hold the ``-inf``-like mask value) are excluded.

    Args:
        student_scores: ``(B, A, L, L)``.
        teacher_scores: ``(B, A', L, L)``, ``A'`` a multiple of ``A`` (heads averaged).
        mask: ``(B, L)`` or None.
    """
    t = match_heads(teacher_scores.detach(), student_scores.shape[1]).to(student_scores.dtype)
    pair = _pair_mask(mask, student_scores).bool()
    diff = torch.where(pair, student_scores - t, torch.zeros((), dtype=student_scores.dtype))
    count = pair.to(diff.dtype).sum() * student_scores.shape[1]
    return diff.pow(2).sum() / count.clamp_min(1.0)


def attention_kl(
    student_probs: torch.Tensor,
    teacher_probs: torch.Tensor,
    mask: torch.Tensor | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Attention-distribution matching (MiniLM, Wang et al., 2020): KL per query row.

    .. math::
        L = \\frac{1}{A \\cdot Q} \\sum_{b,a} \\sum_{q:\\, m_{bq}=1} \\sum_k
            p_t[b,a,q,k] \\big(\\log p_t[b,a,q,k] - \\log p_s[b,a,q,k]\\big)

    with ``Q = sum(m)`` the number of real query tokens; padded keys have ``p_t = 0`` and
    add nothing (``0 log 0 = 0``). Teacher heads are averaged down to the student's count.

    Args:
        student_probs: ``(B, A, L, L)`` attention probabilities (rows sum to 1).
        teacher_probs: ``(B, A', L, L)``.
        mask: ``(B, L)`` or None.
        eps: floor under the student's probabilities before the log.
    """
    p_t = match_heads(teacher_probs.detach(), student_probs.shape[1]).to(student_probs.dtype)
    row = torch.xlogy(p_t, p_t) - p_t * torch.log(student_probs.clamp_min(eps))
    per_query = row.sum(dim=-1)  # (B, A, L)
    if mask is None:
        return per_query.mean()
    m = mask.to(per_query.dtype)[:, None, :]
    return (per_query * m).sum() / (m.sum() * per_query.shape[1]).clamp_min(1.0)


def value_relation(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MiniLM's value relation ``VR = softmax(V V^T / sqrt(d_k))`` per head, over real keys.

    Args:
        values: ``(B, A, L, d_k)`` value vectors of one self-attention layer.
        mask: ``(B, L)`` or None; padded keys get no probability mass.

    Returns:
        ``(B, A, L, L)``; each query row is a distribution over the tokens.
    """
    scores = values @ values.transpose(-1, -2) / values.shape[-1] ** 0.5
    if mask is not None:
        keys = mask.to(torch.bool)[:, None, None, :]
        scores = scores.masked_fill(~keys, torch.finfo(scores.dtype).min)
    return scores.softmax(-1)


def value_relation_kl(
    student_values: torch.Tensor,
    teacher_values: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""MiniLM's value-relation transfer (Wang et al., 2020, eq. 7):

    .. math::
        L_{VR} = \frac{1}{A \cdot Q} \sum_{b,a} \sum_{q:\, m_{bq}=1}
            \mathrm{KL}\big(VR_t[b,a,q] \,\|\, VR_s[b,a,q]\big)

    with ``VR = softmax(V V^T / sqrt(d_k))`` (:func:`value_relation`) over real keys, so
    teacher and student may have different head widths ``d_k``; teacher heads are averaged
    down to the student's count.

    Args:
        student_values: ``(B, A, L, d_s)``.
        teacher_values: ``(B, A', L, d_t)``.
        mask: ``(B, L)`` or None.
    """
    p_t = value_relation(teacher_values.detach().to(student_values.dtype), mask)
    return attention_kl(value_relation(student_values, mask), p_t, mask)
