"""Bit packing of integer codes of any width 1..8 into bytes.

Codes ``c_k`` in ``[0, 2^b)`` are laid out as one little-endian bit stream: bit ``j`` of code
``k`` is stream bit ``k*b + j``, and stream bit ``i`` is bit ``i mod 8`` of byte ``i // 8``.
So ``b = 4`` puts two codes in a byte (first code in the low nibble), ``b = 1`` eight codes,
``b = 2`` four, and ``b = 3`` spreads 8 codes over 3 bytes. The packed size is
``ceil(n * b / 8)`` bytes.
"""

from __future__ import annotations

import torch

_CHUNK = 1 << 22  # codes per chunk: bounds the temporary bit tensor at 8 * 4M bytes


def packed_nbytes(numel: int, bits: int) -> int:
    """``ceil(numel * bits / 8)``."""
    return (numel * bits + 7) // 8


def pack_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack unsigned codes (any integer dtype, values in ``[0, 2^bits)``) into a flat uint8 tensor.

    Raises:
        ValueError: ``bits`` outside 1..8 or a code that does not fit.
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    flat = codes.reshape(-1)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 2**bits):
        raise ValueError(f"codes outside [0, {2**bits}) cannot be packed in {bits} bits")
    flat = flat.to(torch.uint8)
    if bits == 8:
        return flat.clone()
    # chunks hold a multiple of 8 codes, so every chunk ends on a byte boundary
    out = [_pack_chunk(flat[i : i + _CHUNK], bits) for i in range(0, flat.numel(), _CHUNK)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


def _pack_chunk(flat: torch.Tensor, bits: int) -> torch.Tensor:
    shifts = torch.arange(bits, dtype=torch.uint8)
    stream = ((flat.unsqueeze(1) >> shifts) & 1).reshape(-1)
    pad = (-stream.numel()) % 8
    if pad:
        stream = torch.cat([stream, torch.zeros(pad, dtype=torch.uint8)])
    weights = torch.ones(8, dtype=torch.uint8) << torch.arange(8, dtype=torch.uint8)
    return (stream.reshape(-1, 8) * weights).sum(dim=1, dtype=torch.int32).to(torch.uint8)


def unpack_bits(packed: torch.Tensor, bits: int, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: the first ``numel`` codes, as uint8."""
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be in 1..8, got {bits}")
    packed = packed.reshape(-1).to(torch.uint8)
    if packed.numel() < packed_nbytes(numel, bits):
        raise ValueError(f"{packed.numel()} bytes cannot hold {numel} codes of {bits} bits")
    if bits == 8:
        return packed[:numel].clone()
    chunk_bytes = _CHUNK * bits // 8
    out = [
        _unpack_chunk(packed[i : i + chunk_bytes], bits)
        for i in range(0, packed.numel(), chunk_bytes)
    ]
    return torch.cat(out)[:numel] if out else torch.empty(0, dtype=torch.uint8)


def _unpack_chunk(packed: torch.Tensor, bits: int) -> torch.Tensor:
    stream = ((packed.unsqueeze(1) >> torch.arange(8, dtype=torch.uint8)) & 1).reshape(-1)
    stream = stream[: stream.numel() // bits * bits].reshape(-1, bits)
    weights = torch.ones(bits, dtype=torch.uint8) << torch.arange(bits, dtype=torch.uint8)
    return (stream * weights).sum(dim=1, dtype=torch.int32).to(torch.uint8)
