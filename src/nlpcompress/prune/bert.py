"""Where the prunable weights of a Hugging Face BERT classifier are."""

from __future__ import annotations

from torch import nn

ATTENTION_LINEARS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
)
FFN_LINEARS = ("intermediate.dense", "output.dense")


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The Transformer layers of a BERT-like classifier (``model.<base>.encoder.layer``)."""
    base = getattr(model, "base_model", model)
    try:
        return base.encoder.layer
    except AttributeError as err:
        raise TypeError(f"{type(model).__name__} has no BERT-style encoder.layer list") from err


def encoder_prefix(model: nn.Module) -> str:
    """State-dict prefix of the Transformer layers, e.g. ``bert.encoder.layer.``."""
    base_name = getattr(model, "base_model_prefix", "")
    prefix = f"{base_name}." if base_name and hasattr(model, base_name) else ""
    return f"{prefix}encoder.layer."


def prunable_linears(model: nn.Module, include_embeddings: bool = False) -> dict[str, nn.Module]:
    """Module name -> module whose ``weight`` is pruned: the six Linear layers of every
    Transformer layer (Q, K, V, attention output, FFN in, FFN out), plus the word
    embeddings when ``include_embeddings``. Pooler and classifier stay dense."""
    prefix = encoder_prefix(model)
    out = {}
    for i, layer in enumerate(encoder_layers(model)):
        for sub in ATTENTION_LINEARS + FFN_LINEARS:
            out[f"{prefix}{i}.{sub}"] = layer.get_submodule(sub)
    if include_embeddings:
        base = getattr(model, "base_model", model)
        name = encoder_prefix(model).replace("encoder.layer.", "embeddings.word_embeddings")
        out[name] = base.embeddings.word_embeddings
    return out
