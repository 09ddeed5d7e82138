"""Students: a layer-dropped copy of the teacher, a narrower BERT, or a BiLSTM.

* :func:`layer_dropped_student` keeps some of the teacher's transformer layers with its
  embeddings and head (the DistilBERT way of initialising from the teacher).
* :func:`bert_student` builds a BERT from a model preset (random or pretrained).
* :class:`BiLSTMClassifier` is a bidirectional LSTM over the teacher's token ids
  (Tang et al., 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
  Networks").
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The ModuleList of transformer blocks of a BERT/RoBERTa/DistilBERT classifier."""
    for path in (
        "bert.encoder.layer",
        "roberta.encoder.layer",
        "distilbert.transformer.layer",
        "encoder.layer",
        "transformer.layer",
    ):
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__}")


def num_layers(model: nn.Module) -> int:
    """Transformer depth of a Hugging Face model (0 for a model without layers, e.g. BiLSTM)."""
    try:
        return len(transformer_layers(model))
    except ValueError:
        return 0


def hidden_width(model: nn.Module) -> int:
    """Hidden size of a Hugging Face model, or 0."""
    config = getattr(model, "config", None)
    return (
        int(getattr(config, "hidden_size", getattr(config, "dim", 0)) or 0)
        if config is not None
        else 0
    )


def layer_dropped_student(teacher: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A copy of ``teacher`` keeping only transformer ``layers`` (in that order).

    The embeddings, pooler and classification head are the teacher's, copied, so the
    student's embedding output equals the teacher's exactly. The copy keeps the teacher's
    train/eval mode; call ``.train()`` before training it.

    Raises:
        ValueError: an index outside the teacher's depth, or no layer.
    """
    depth = num_layers(teacher)
    if not layers or any(not 0 <= i < depth for i in layers):
        raise ValueError(
            f"student layers {list(layers)} must be non-empty indices into the teacher's {depth} layers"
        )
    student = copy.deepcopy(teacher)
    kept = transformer_layers(student)
    new = nn.ModuleList(kept[i] for i in layers)
    for idx, layer in enumerate(new):
        # Layers that know their position (for caches) get the new one.
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = idx
    _replace_layers(student, new)
    config = student.config
    for key in ("num_hidden_layers", "n_layers"):
        if hasattr(config, key):
            setattr(config, key, len(layers))
    return student


def _replace_layers(model: nn.Module, new: nn.ModuleList) -> None:
    old = transformer_layers(model)
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new)
                return
    raise ValueError("transformer layers not found")  # pragma: no cover


def bert_student(model_cfg, num_labels: int) -> nn.Module:
    """A Hugging Face classifier from a model preset (``source: random`` builds a fresh BERT)."""
    from nlpcompress.models.presets import build_classifier

    return build_classifier(model_cfg, num_labels)


class BiLSTMClassifier(nn.Module):
    """BiLSTM sentence classifier on BERT token ids (Tang et al., 2019).

    ``h = [fwd_LSTM(x)_{n-1}; bwd_LSTM(x)_0]`` (last state of each direction over the
    ``n`` real tokens), ``logits = W_2 relu(W_1 dropout(h))``. The backward direction runs a
    forward LSTM on each sequence reversed within its own length, so right padding never
    enters a real token's state and the graph needs no packed sequences (ONNX-friendly).

    Args:
        vocab_size: tokenizer vocabulary size.
        num_labels: classes.
        embedding_dim: token embedding width.
        hidden_size: LSTM width per direction.
        num_layers: stacked bidirectional layers.
        mlp_hidden: width of the ReLU layer before the output.
        dropout: dropout on the embeddings and before the MLP.
        padding_idx: the tokenizer's pad id.
    """

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        embedding_dim: int = 300,
        hidden_size: int = 300,
        num_layers: int = 1,
        mlp_hidden: int = 400,
        dropout: float = 0.1,
        padding_idx: int = 0,
    ):
        super().__init__()
        self.spec = dict(
            vocab_size=vocab_size,
            num_labels=num_labels,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            mlp_hidden=mlp_hidden,
            dropout=dropout,
            padding_idx=padding_idx,
        )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.forward_lstms = nn.ModuleList()
        self.backward_lstms = nn.ModuleList()
        width = embedding_dim
        for _ in range(num_layers):
            self.forward_lstms.append(nn.LSTM(width, hidden_size, batch_first=True))
            self.backward_lstms.append(nn.LSTM(width, hidden_size, batch_first=True))
            width = 2 * hidden_size
        self.dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(
            nn.Linear(2 * hidden_size, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, num_labels)
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: object,
    ) -> torch.Tensor:
        """``(B, L)`` token ids (right-padded) -> ``(B, num_labels)`` logits."""
        b, length = input_ids.shape
        if attention_mask is None:
            lengths = torch.full((b,), length, dtype=torch.long, device=input_ids.device)
        else:
            lengths = attention_mask.long().sum(dim=1).clamp_min(1)
        positions = torch.arange(length, device=input_ids.device).unsqueeze(0)
        # reversed-within-length index: position t <- lengths - 1 - t for real tokens.
        rev = torch.where(positions < lengths[:, None], lengths[:, None] - 1 - positions, positions)
        x = self.dropout(self.embedding(input_ids))
        for fwd_lstm, bwd_lstm in zip(self.forward_lstms, self.backward_lstms, strict=True):
            fwd, _ = fwd_lstm(x)
            bwd_rev, _ = bwd_lstm(_gather_time(x, rev))
            bwd = _gather_time(bwd_rev, rev)
            x = torch.cat([fwd, bwd], dim=-1)
        last = (lengths - 1).clamp_min(0)
        h_fwd = _gather_time(x[..., : x.shape[-1] // 2], last[:, None]).squeeze(1)
        h_bwd = x[:, 0, x.shape[-1] // 2 :]
        return self.mlp(self.dropout(torch.cat([h_fwd, h_bwd], dim=-1)))


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, t], :]`` for ``x`` of shape ``(B, L, H)`` and ``index`` ``(B, T)``."""
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def bilstm_student(
    teacher: nn.Module | None,
    vocab_size: int,
    num_labels: int,
    *,
    embedding_dim: int,
    hidden_size: int,
    num_layers: int,
    mlp_hidden: int,
    dropout: float,
    padding_idx: int,
    embedding_init: str,
) -> BiLSTMClassifier:
    """A :class:`BiLSTMClassifier`; ``embedding_init="teacher"`` copies the teacher's word
    embeddings (then ``embedding_dim`` must equal the teacher's width)."""
    student = BiLSTMClassifier(
        vocab_size,
        num_labels,
        embedding_dim,
        hidden_size,
        num_layers,
        mlp_hidden,
        dropout,
        padding_idx,
    )
    if embedding_init == "teacher":
        if teacher is None:
            raise ValueError("embedding_init=teacher needs a teacher")
        words = teacher.get_input_embeddings().weight.detach()
        if tuple(words.shape) != tuple(student.embedding.weight.shape):
            raise ValueError(
                f"teacher word embeddings {tuple(words.shape)} do not fit the student's {tuple(student.embedding.weight.shape)}"
            )
        with torch.no_grad():
            student.embedding.weight.copy_(words)
    return student


def principal_directions(table: torch.Tensor, k: int) -> torch.Tensor:
    """The top-``k`` principal directions of the rows of ``table``: ``(H, k)``, orthonormal.

    ``P = V[:, :k]`` from the SVD of the centred table, ``table - mean = U S V^T``; the columns
    are ordered by explained variance ``S_j^2`` and each has its largest entry made positive
    (the sign of a singular vector is arbitrary; this makes ``P`` deterministic).
    """
    centred = table - table.mean(dim=0, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    p = vh[:k].T.contiguous()
    flip = torch.sign(p.gather(0, p.abs().argmax(dim=0, keepdim=True)))
    return p * flip


@torch.no_grad()
def init_embeddings_from_teacher_pca(student: nn.Module, teacher: nn.Module) -> torch.Tensor:
    """Initialise a narrower BERT student's embeddings from the teacher's, by PCA.

    With ``P`` (``H_t x H_s``) the top-``H_s`` principal directions of the teacher's word
    embeddings (:func:`principal_directions`), every embedding table (word, position, token
    type) becomes ``E_s = E_t P``: the student's embedding sum ``(w + p + t)_t P`` is the
    projection of the teacher's onto its ``H_s`` most varied directions (the embedding
    LayerNorm keeps its fresh init). A random narrow student otherwise starts from random token
    vectors that a few hundred steps cannot place (each row moves only when its token is in the
    batch); the teacher's are learned from a corpus the task data cannot replace.

    Returns:
        ``P``, e.g. to initialise the learned projections that map student states back to the
        teacher's width (``W = P^T``, so ``E_s W = E_t P P^T``).

    Raises:
        ValueError: the student is not narrower than the teacher, or the tables differ in rows.
    """
    s_emb, t_emb = student.base_model.embeddings, teacher.base_model.embeddings
    width_s, width_t = hidden_width(student), hidden_width(teacher)
    if width_s >= width_t:
        raise ValueError(f"teacher_pca needs a narrower student ({width_s} >= {width_t})")
    p = principal_directions(t_emb.word_embeddings.weight.float(), width_s)
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        s_table, t_table = getattr(s_emb, name).weight, getattr(t_emb, name).weight
        if s_table.shape[0] != t_table.shape[0]:
            raise ValueError(
                f"{name}: student has {s_table.shape[0]} rows, teacher {t_table.shape[0]}"
            )
        s_table.copy_(t_table.float() @ p)
    return p
