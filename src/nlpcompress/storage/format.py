"""The stored model format: one ``.safetensors`` payload plus one small ``.json``.

Every tensor is stored under an *encoding* (``dense``, ``packed_int``, ``sparse_bitmask``,
...). An encoder turns a tensor into :class:`EncodedTensor` parts; the matching decoder,
registered with :func:`register_decoder`, turns the parts back. The JSON names the
encoding of each tensor and the *builder* that rebuilds the module from the decoded state
dict (registered with :func:`register_builder`), so ``load_model(path)`` needs nothing but
the two files. ``size/bytes`` is the sum of the two files' sizes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT_VERSION = 1
_DECODERS: dict[str, Callable[[EncodedTensor], torch.Tensor]] = {}
_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, torch.Tensor]], nn.Module]] = {}


@dataclass
class EncodedTensor:
    """A tensor in its stored form.

    Attributes:
        encoding: the decoder's name.
        shape: the logical (decoded) shape.
        parts: the tensors actually written (packed codes, scales, bitmasks, values...).
        attrs: JSON-serialisable facts the decoder needs (bits, group size, dtype...).
    """

    encoding: str
    shape: tuple[int, ...]
    parts: dict[str, torch.Tensor]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def stored_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.parts.values())

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def register_decoder(name: str):
    """Decorator: ``fn(EncodedTensor) -> Tensor`` decodes encoding ``name``."""

    def wrap(fn):
        _DECODERS[name] = fn
        return fn

    return wrap


def register_builder(name: str):
    """Decorator: ``fn(meta, state_dict) -> nn.Module`` rebuilds a model from its stored form."""

    def wrap(fn):
        _BUILDERS[name] = fn
        return fn

    return wrap


def encode_dense(tensor: torch.Tensor, dtype: torch.dtype | None = None) -> EncodedTensor:
    """Store as-is (optionally cast, e.g. to bf16)."""
    t = tensor.detach().contiguous()
    if dtype is not None:
        t = t.to(dtype)
    return EncodedTensor(
        "dense", tuple(tensor.shape), {"data": t.cpu()}, {"dtype": str(tensor.dtype)}
    )


@register_decoder("dense")
def decode_dense(enc: EncodedTensor) -> torch.Tensor:
    dtype = getattr(torch, enc.attrs.get("dtype", "torch.float32").replace("torch.", ""))
    return enc.parts["data"].to(dtype)


def decode(enc: EncodedTensor) -> torch.Tensor:
    if enc.encoding not in _DECODERS:
        _load_encoding_modules()
    if enc.encoding not in _DECODERS:
        raise ValueError(f"unknown tensor encoding {enc.encoding!r}; known: {sorted(_DECODERS)}")
    return _DECODERS[enc.encoding](enc).reshape(enc.shape)


@dataclass
class ExportedArtifact:
    """What an export wrote.

    Attributes:
        payload: the ``.safetensors`` file.
        metadata: the ``.json`` file.
        tensors: the encoded tensors, by name (for per-layer tables and bit counts).
    """

    payload: Path
    metadata: Path
    tensors: dict[str, EncodedTensor]

    @property
    def files(self) -> list[Path]:
        return [self.payload, self.metadata]

    @property
    def bytes(self) -> int:
        """Bytes on disk of the files written: the number ``size/bytes`` reports."""
        return sum(p.stat().st_size for p in self.files)


def write_artifact(
    stem: Path, tensors: dict[str, EncodedTensor], meta: dict[str, Any]
) -> ExportedArtifact:
    """Write ``stem.safetensors`` and ``stem.json``.

    Args:
        stem: path without suffix.
        tensors: name -> encoded tensor (names are state-dict keys).
        meta: must hold ``builder`` (a registered builder name) and what it needs.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    flat = {
        f"{name}::{part}": t.contiguous()
        for name, enc in tensors.items()
        for part, t in enc.parts.items()
    }
    index = {
        name: {
            "encoding": enc.encoding,
            "shape": list(enc.shape),
            "parts": sorted(enc.parts),
            "attrs": enc.attrs,
        }
        for name, enc in tensors.items()
    }
    payload, metadata = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    save_file(flat, str(payload))
    metadata.write_text(
        json.dumps(
            {"format_version": FORMAT_VERSION, "meta": meta, "tensors": index},
            separators=(",", ":"),
        )
    )
    return ExportedArtifact(payload, metadata, tensors)


def read_artifact(stem: Path) -> tuple[dict[str, EncodedTensor], dict[str, Any]]:
    """Read back the encoded tensors and the metadata of an artifact."""
    stem = Path(stem)
    doc = json.loads(stem.with_suffix(".json").read_text())
    flat = load_file(str(stem.with_suffix(".safetensors")))
    tensors = {
        name: EncodedTensor(
            info["encoding"],
            tuple(info["shape"]),
            {p: flat[f"{name}::{p}"] for p in info["parts"]},
            info["attrs"],
        )
        for name, info in doc["tensors"].items()
    }
    return tensors, doc["meta"]


def load_state_dict(stem: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Decode every tensor of an artifact: ``(state_dict, meta)``."""
    tensors, meta = read_artifact(stem)
    return {name: decode(enc) for name, enc in tensors.items()}, meta


def load_model(stem: Path) -> nn.Module:
    """Rebuild the exported model with the builder named in its metadata, in eval mode."""
    state, meta = load_state_dict(stem)
    builder = meta["builder"]
    if builder not in _BUILDERS:
        _load_encoding_modules()
    if builder not in _BUILDERS:
        raise ValueError(f"unknown model builder {builder!r}; known: {sorted(_BUILDERS)}")
    return _BUILDERS[builder](meta, state).eval()


# The modules that register encodings and builders, imported when a stored model names one
# not registered yet (an explicit list: a new stored form adds its module here).
ENCODING_MODULES = (
    "nlpcompress.models.builders",
    "nlpcompress.quant.storage",
    "nlpcompress.prune.storage",
    "nlpcompress.distill.builders",
)


def _load_encoding_modules() -> None:
    """Import :data:`ENCODING_MODULES` (quant, prune, distill, models)."""
    import importlib

    for name in ENCODING_MODULES:
        importlib.import_module(name)
