"""The ``quant`` config section (``conf/quant/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nlpcompress.config.typed import check, register_section

GRANULARITY = Literal["per_tensor", "per_channel", "per_group"]


@register_section("quant")
@dataclass(frozen=True)
class QuantConfig:
    """How weights (and optionally activations) are quantized.

    Attributes:
        name: the preset name (``int8``, ``int4``, ``binary``...), used in tags.
        form: ``int`` (uniform affine), ``fixed_point``, ``binary`` (1 bit, alpha = mean|W|
            per output channel), ``ternary`` (TWN, 2-bit codes) or ``split_binary``
            (BinaryBERT: the ternary weights split into two binary planes, 2 bits per weight;
            QAT trains the ternary model for ``method.ternary_max_steps`` first).
        bits: code width of the Linear weights, 1..8 (binary 1, ternary and split binary 2,
            int >= 2).
        embedding_bits: code width of the embedding tables (int form), or null to keep them fp32.
        symmetric: zero point 0 (int form).
        granularity: ``per_tensor``, ``per_channel`` (one scale per output row) or ``per_group``.
        group_size: values per scale for ``per_group``; must divide every quantized row.
        policy: module-name glob pattern -> bits, applied in order (the last match wins);
            1 means binary. Every pattern must match a quantizable module.
        skip: glob patterns of modules left in fp32 (default: the classification head).
        frac_bits: fixed-point fractional bits; null picks the most that fit each tensor.
        act_bits: activation bits (inputs of every quantized Linear), or null for weights only.
        act_symmetric: symmetric activation grid.
        act_calibration: ``minmax``, ``percentile`` or ``mse``.
        act_percentile: percentile for ``act_calibration=percentile``.
        calib_batches: training batches used to calibrate activation ranges.
        lsq: learn the weight step sizes during QAT (symmetric int form only).
        lsq_init: LSQ's first step per group: ``lsq`` the paper's ``s_0 = 2 mean|w| / sqrt(Q_P)``,
            ``minmax`` the fixed-step grid's ``max|w| / Q_P``.
        budget_bits: average Linear bits for the sensitivity-based allocation, or null.
        candidate_bits: the widths the allocation may choose from.
        sensitivity_batches: validation batches used to measure per-layer sensitivity.
        ort_per_channel: per-channel QInt8 weights in the ONNX Runtime int8 deployment.
    """

    name: str = "int8"
    form: Literal["int", "fixed_point", "binary", "ternary", "split_binary"] = "int"
    bits: int = 8
    embedding_bits: int | None = 8
    symmetric: bool = True
    granularity: GRANULARITY = "per_channel"
    group_size: int = 128
    policy: dict[str, int] = field(default_factory=dict)
    skip: list[str] = field(default_factory=lambda: ["classifier*"])
    frac_bits: int | None = None
    act_bits: int | None = None
    act_symmetric: bool = False
    act_calibration: Literal["minmax", "percentile", "mse"] = "minmax"
    act_percentile: float = 99.99
    calib_batches: int = 8
    lsq: bool = False
    lsq_init: Literal["lsq", "minmax"] = "lsq"
    budget_bits: float | None = None
    candidate_bits: list[int] = field(default_factory=lambda: [2, 4, 8])
    sensitivity_batches: int = 4
    ort_per_channel: bool = True

    def describe(self) -> str:
        """Run-name part, e.g. ``int4-w4e4`` (weights, embeddings, activations if any)."""
        act = f"a{self.act_bits}" if self.act_bits else ""
        budget = f"-avg{self.budget_bits:g}" if self.budget_bits is not None else ""
        return f"{self.name}-w{self.bits}e{self.embedding_bits or 32}{act}{budget}"

    def __post_init__(self):
        allowed = {
            "binary": "1 for form=binary",
            "ternary": "2 for form=ternary",
            "split_binary": "2 for form=split_binary (two binary planes)",
            "int": "an integer in 2..8 for form=int (1 bit is quant=binary)",
            "fixed_point": "an integer in 2..8 for form=fixed_point",
        }[self.form]
        form_bits = {"binary": (1,), "ternary": (2,), "split_binary": (2,)}.get(
            self.form, tuple(range(2, 9))
        )
        check(self.bits in form_bits, "bits", self.bits, allowed)
        check(
            self.embedding_bits is None or 2 <= self.embedding_bits <= 8,
            "embedding_bits",
            self.embedding_bits,
            "null (fp32 embeddings) or an integer in 2..8",
        )
        check(self.group_size >= 1, "group_size", self.group_size, "an integer >= 1")
        for pattern, bits in self.policy.items():
            check(
                isinstance(bits, int) and 1 <= bits <= 8,
                f"policy.{pattern}",
                bits,
                "bits in 1..8 (1 = binary)",
            )
        check(
            self.frac_bits is None or -8 <= self.frac_bits <= 24,
            "frac_bits",
            self.frac_bits,
            "null or an integer in -8..24",
        )
        check(
            self.act_bits is None or 2 <= self.act_bits <= 8,
            "act_bits",
            self.act_bits,
            "null or an integer in 2..8",
        )
        check(
            50.0 < self.act_percentile <= 100.0,
            "act_percentile",
            self.act_percentile,
            "a percentile in (50, 100]",
        )
        check(self.calib_batches >= 0, "calib_batches", self.calib_batches, "an integer >= 0")
        check(
            not self.lsq or (self.form == "int" and self.symmetric),
            "lsq",
            self.lsq,
            "false unless form=int and symmetric=true (LSQ learns a symmetric step)",
        )
        check(
            self.budget_bits is None or 1.0 <= self.budget_bits <= 8.0,
            "budget_bits",
            self.budget_bits,
            "null or a number in [1, 8]",
        )
        check(
            len(self.candidate_bits) >= 1 and all(1 <= b <= 8 for b in self.candidate_bits),
            "candidate_bits",
            self.candidate_bits,
            "a non-empty list of bits in 1..8",
        )
        check(
            self.budget_bits is None or min(self.candidate_bits) <= self.budget_bits,
            "budget_bits",
            self.budget_bits,
            f"at least the smallest candidate width {min(self.candidate_bits)}",
        )
        check(
            self.sensitivity_batches >= 1,
            "sensitivity_batches",
            self.sensitivity_batches,
            "an integer >= 1",
        )
