"""Bit packing round trips for every width."""

import pytest
import torch

from nlpcompress.quant.packing import pack_bits, packed_nbytes, unpack_bits


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("n", [1, 7, 8, 13, 1000])
def test_round_trip_every_width(bits, n):
    codes = torch.randint(0, 2**bits, (n,), generator=torch.Generator().manual_seed(n * bits))
    packed = pack_bits(codes, bits)
    assert packed.dtype == torch.uint8
    assert packed.numel() == packed_nbytes(n, bits) == -(-n * bits // 8)
    assert torch.equal(unpack_bits(packed, bits, n).long(), codes)


def test_layout_is_little_endian_stream():
    # two 4-bit values per byte, first in the low nibble
    assert pack_bits(torch.tensor([0x3, 0xA]), 4).tolist() == [0xA3]
    # eight 1-bit values per byte
    assert pack_bits(torch.tensor([1, 0, 0, 0, 0, 0, 0, 1]), 1).tolist() == [0x81]
    # four 2-bit values per byte
    assert pack_bits(torch.tensor([1, 2, 3, 0]), 2).tolist() == [0b00111001]
    # 3-bit: 8 codes in 3 bytes
    assert pack_bits(torch.arange(8), 3).numel() == 3


def test_large_tensor_crosses_chunks():
    codes = torch.randint(0, 8, (5_000_003,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(unpack_bits(pack_bits(codes, 3), 3, codes.numel()).long(), codes)


def test_refuses_codes_that_do_not_fit():
    with pytest.raises(ValueError):
        pack_bits(torch.tensor([4]), 2)
    with pytest.raises(ValueError):
        pack_bits(torch.tensor([-1]), 4)
    with pytest.raises(ValueError):
        unpack_bits(torch.zeros(1, dtype=torch.uint8), 4, 3)
