"""Fake-quant modules: weight / activation quantizers and Linear / Embedding wrappers.

In training mode the quantizers use straight-through estimators (QAT); in eval mode they
compute the exact ``dequantize(quantize(w))`` that the stored form decodes to, so the model
that is evaluated and the model that :func:`nlpcompress.storage.format.load_model` rebuilds
give the same predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nlpcompress.quant import quantizers as Q
from nlpcompress.quant.calibration import RangeObserver, calibrate_range
from nlpcompress.quant.ste import lsq_quantize, sign_ste

FORMS = ("int", "fixed_point", "binary", "ternary", "split_binary")
SCALE_DTYPE = (
    torch.float16
)  # scales are stored in fp16; the evaluated model uses the same rounded values


@dataclass(frozen=True)
class WeightSpec:
    """How one weight is quantized.

    Attributes:
        form: ``int`` (uniform affine), ``fixed_point``, ``binary``, ``ternary`` or
            ``split_binary`` (two binary planes, :class:`SplitBinaryQuantizer`).
        bits: code width (binary 1, ternary and split binary 2).
        symmetric: zero point 0 (int form).
        granularity: ``per_tensor`` / ``per_channel`` / ``per_group`` (int form; binary and
            ternary are per output channel, fixed point per tensor).
        group_size: values per group for ``per_group``.
        frac_bits: fixed-point fractional bits; None picks :func:`auto_frac_bits`.
        lsq: learn the step size (LSQ) during QAT (symmetric int only).
        lsq_init: the first LSQ step (:func:`lsq_initial_scale`): ``lsq`` or ``minmax``.
    """

    form: str = "int"
    bits: int = 8
    symmetric: bool = True
    granularity: str = "per_channel"
    group_size: int | None = None
    frac_bits: int | None = None
    lsq: bool = False
    lsq_init: str = "lsq"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Codes:
    """Integer codes of a weight and how they decode: ``x_hat = scale * (codes - zero)``.

    ``codes`` is ``[R, G, g]`` (integral floats in ``[qmin, qmax]``), ``scale`` ``[R, G, 1]``,
    ``zero`` a tensor broadcastable to ``scale``.
    """

    codes: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor
    qmin: int
    qmax: int
    bits: int

    def dequantize(self, shape: torch.Size) -> torch.Tensor:
        return Q.dequantize(self.codes, self.scale, self.zero).reshape(shape)


@dataclass
class SplitCodes:
    """The two binary planes of a split weight (:class:`SplitBinaryQuantizer`):
    ``x_hat = (2 alpha_1)(b_1 - 1/2) + (2 alpha_2)(b_2 - 1/2)``, each plane a binary
    :class:`Codes`."""

    first: Codes
    second: Codes

    def dequantize(self, shape: torch.Size) -> torch.Tensor:
        return self.first.dequantize(shape) + self.second.dequantize(shape)


def lsq_initial_scale(weight: torch.Tensor, spec: WeightSpec) -> torch.Tensor:
    """LSQ's first step per group ``[R, G, 1]`` (Esser et al., 2020, section 2.1).

    * ``lsq``: ``s_0 = 2 mean_i |w_i| / sqrt(Q_P)`` over the group's values, ``Q_P`` the largest
      positive code: the paper's initialisation;
    * ``minmax``: ``s_0 = max_i |w_i| / Q_P``, the fixed min/max grid of plain STE QAT.

    At 2 bits (codes -1, 0, 1) the min/max step rounds most weights to 0: on a fine-tuned
    MiniLM-L6 it zeroes 82% of the encoder weights (relative squared error 0.53), the paper's
    step 58% (0.24), close to the per-group MSE optimum (0.20); see experiments/lsq.md.
    """
    if spec.lsq_init == "minmax":
        scale, _ = Q.minmax_weight_params(
            weight, spec.bits, True, spec.granularity, spec.group_size
        )
        return scale
    if spec.lsq_init != "lsq":
        raise ValueError(f"lsq_init must be lsq or minmax, got {spec.lsq_init!r}")
    _, qmax = Q.qrange(spec.bits, True)
    v = Q.group_view(weight.detach(), spec.granularity, spec.group_size)
    scale = 2.0 * v.abs().mean(dim=-1, keepdim=True) / qmax**0.5
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def binary_codes(w: torch.Tensor) -> Codes:
    """``alpha sign(w)`` as codes ``b = [w >= 0]`` decoding to ``(2 alpha)(b - 1/2)``."""
    codes, alpha = Q.binarize(w.detach())
    alpha = Q.round_scale(alpha, SCALE_DTYPE)
    return Codes(codes.unsqueeze(1), (2 * alpha).unsqueeze(1), torch.tensor(0.5), 0, 1, 1)


class WeightQuantizer(nn.Module):
    """Quantizes a weight tensor according to a :class:`WeightSpec`."""

    def __init__(self, spec: WeightSpec, weight: torch.Tensor):
        super().__init__()
        self.spec = spec
        self.frac_bits = None
        if spec.form == "fixed_point":
            self.frac_bits = (
                spec.frac_bits
                if spec.frac_bits is not None
                else Q.auto_frac_bits(weight, spec.bits)
            )
        self.scale = None
        if spec.lsq:
            scale = lsq_initial_scale(weight, spec)
            # stored flat so that the optimiser treats it like a bias (no weight decay)
            self.scale = nn.Parameter(scale.reshape(-1).clone())
            self.scale_shape = tuple(scale.shape)

    def _cache_key(self, w: torch.Tensor) -> tuple:
        return (w.data_ptr(), w._version, None if self.scale is None else self.scale._version)

    def _eval_weight(self, w: torch.Tensor) -> torch.Tensor:
        # cached while neither the weight nor the LSQ step changes (eval of a frozen model)
        key = self._cache_key(w)
        cache = getattr(self, "_cache", None)
        if cache is None or cache[0] != key:
            cache = (key, self.encode(w).dequantize(w.shape))
            self._cache = cache
        return cache[1]

    def _lsq_scale(self) -> torch.Tensor:
        return self.scale.abs().clamp(min=1e-12).reshape(self.scale_shape)

    def encode(self, w: torch.Tensor) -> Codes:
        """The integer codes of ``w`` (no gradient)."""
        s = self.spec
        w = w.detach()
        if s.form == "binary":
            return binary_codes(w)
        if s.form == "ternary":
            codes, alpha = Q.ternarize(w)
            alpha = Q.round_scale(alpha, SCALE_DTYPE)
            return Codes(codes.unsqueeze(1), alpha.unsqueeze(1), torch.tensor(1.0), 0, 2, 2)
        if s.form == "fixed_point":
            qmin, qmax = Q.fixed_point_range(s.bits)
            step = torch.full((1, 1, 1), 2.0 ** (-self.frac_bits), dtype=w.dtype)
            zero = torch.tensor(0.0)
            return Codes(
                Q.quantize(w.reshape(1, 1, -1), step, zero, qmin, qmax),
                step,
                zero,
                qmin,
                qmax,
                s.bits,
            )
        qmin, qmax = Q.qrange(s.bits, s.symmetric)
        if self.scale is not None:
            scale, zero = Q.round_scale(self._lsq_scale().detach(), SCALE_DTYPE), torch.tensor(0.0)
        else:
            scale, zero = Q.minmax_weight_params(
                w, s.bits, s.symmetric, s.granularity, s.group_size, SCALE_DTYPE
            )
        view = Q.group_view(w, s.granularity, s.group_size)
        return Codes(Q.quantize(view, scale, zero, qmin, qmax), scale, zero, qmin, qmax, s.bits)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return self._eval_weight(w)
        self._cache = None
        s = self.spec
        if s.form == "binary":
            return Q.binary_alpha(w) * sign_ste(w)
        if s.form == "ternary":
            return w + (self.encode(w).dequantize(w.shape) - w).detach()
        if s.form == "fixed_point":
            return Q.fixed_point_quantize(w, s.bits, self.frac_bits)
        qmin, qmax = Q.qrange(s.bits, s.symmetric)
        view = Q.group_view(w, s.granularity, s.group_size)
        if self.scale is not None:
            return lsq_quantize(view, self._lsq_scale(), qmin, qmax).reshape(w.shape)
        scale, zero = Q.minmax_weight_params(w, s.bits, s.symmetric, s.granularity, s.group_size)
        return Q.fake_quantize(view, scale, zero, qmin, qmax).reshape(w.shape)

    def train_rows(self, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The training forward of the rows ``index`` of a 2-D ``table``: equal to
        ``self(table)[index]`` in value and gradient, without fake-quantizing the other rows.

        Row-wise statistics (per-channel / per-group int, binary and ternary alpha per row,
        element-wise fixed point) need only the rows; a per-tensor int scale needs the
        table's min / max (one reduction); an LSQ step is gathered per row, and its gradient
        scale ``g = 1 / sqrt(N q_max)`` keeps the table's ``N``.
        """
        rows = table[index]
        s = self.spec
        if s.form != "int" or (s.granularity != "per_tensor" and self.scale is None):
            return self(rows)
        self._cache = None
        qmin, qmax = Q.qrange(s.bits, s.symmetric)
        view = Q.group_view(rows, s.granularity, s.group_size)
        if self.scale is not None:
            scale = self._lsq_scale()
            scale = scale if s.granularity == "per_tensor" else scale[index]
            g = 1.0 / (table.numel() * max(qmax, 1)) ** 0.5
            return lsq_quantize(view, scale, qmin, qmax, grad_factor=g).reshape(rows.shape)
        scale, zero = Q.minmax_weight_params(table, s.bits, s.symmetric, "per_tensor")
        return Q.fake_quantize(view, scale, zero, qmin, qmax).reshape(rows.shape)


class SplitBinaryQuantizer(WeightQuantizer):
    """BinaryBERT's split binary weight: ``W_hat = B(W_1) + B(W_2)``, ``B(x) = alpha(x) sign(x)``.

    ``W_1`` is the wrapped layer's own ``weight``; ``W_2`` is this quantizer's ``partner``
    parameter. Both are trained (sign with BinaryConnect's straight-through gradient,
    ``alpha`` per output row as in :func:`binary_codes`) and each is stored as one bit per
    weight plus an fp16 ``alpha`` per row: two bits per weight in all. Built by
    :func:`split_ternary_linear` from a ternary layer, where it computes exactly the ternary
    weight.
    """

    def __init__(self, partner: torch.Tensor):
        super().__init__(WeightSpec("split_binary", 2, True, "per_channel", None), partner)
        self.partner = nn.Parameter(partner.detach().clone())

    def encode(self, w: torch.Tensor) -> SplitCodes:
        return SplitCodes(binary_codes(w), binary_codes(self.partner))

    def _cache_key(self, w: torch.Tensor) -> tuple:
        return (w.data_ptr(), w._version, self.partner._version)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return self._eval_weight(w)
        self._cache = None
        p = self.partner
        return Q.binary_alpha(w) * sign_ste(w) + Q.binary_alpha(p) * sign_ste(p)


def split_ternary_linear(layer: QuantLinear) -> float:
    """Ternary weight splitting of one ternary layer, in place (:func:`Q.split_ternary`).

    ``layer.weight`` becomes ``W_1`` (same parameter, new values) and the quantizer a
    :class:`SplitBinaryQuantizer` holding ``W_2``; the activation quantizer is kept. Returns
    the largest ``|W_hat_split - W_hat_ternary|`` of the evaluated weight (fp16 rounding of
    the scales only).
    """
    if layer.weight_quantizer.spec.form != "ternary":
        raise ValueError(
            f"ternary weight splitting needs a ternary layer, got {layer.weight_quantizer.spec.form}"
        )
    with torch.no_grad():
        before = layer.weight_quantizer.eval()(layer.weight).clone()
        first, second = Q.split_ternary(layer.weight)
        layer.weight.copy_(first)
        layer.weight_quantizer = SplitBinaryQuantizer(second).to(layer.weight.device)
        after = layer.weight_quantizer.eval()(layer.weight)
    layer.weight_quantizer.train(layer.training)
    return float((after - before).abs().max())


def split_ternary_layers(model: nn.Module) -> tuple[int, float]:
    """:func:`split_ternary_linear` on every ternary Linear of ``model``; returns the number
    of layers split and the largest weight difference it made."""
    errors = [
        split_ternary_linear(m)
        for m in quantized_modules(model).values()
        if isinstance(m, QuantLinear) and m.weight_quantizer.spec.form == "ternary"
    ]
    return len(errors), max(errors, default=0.0)


def split_plane_signs(model: nn.Module) -> torch.Tensor:
    """The signs (``>= 0``) of both planes of every split binary layer, one flat bool vector
    (compare two of them to count the signs a fine-tune flipped)."""
    signs = [
        torch.cat([(m.weight >= 0).reshape(-1), (m.weight_quantizer.partner >= 0).reshape(-1)])
        for m in quantized_modules(model).values()
        if isinstance(m, QuantLinear) and isinstance(m.weight_quantizer, SplitBinaryQuantizer)
    ]
    return torch.cat(signs).cpu() if signs else torch.zeros(0, dtype=torch.bool)


class ActQuantizer(nn.Module):
    """Per-tensor activation fake quantization with a calibrated range.

    States: ``observe`` (records values, identity), then ``quant`` after :meth:`calibrate`
    (``x_hat = s * (clamp(round(x / s) + z, q_min, q_max) - z)``, straight-through in training).
    """

    def __init__(self, bits: int, symmetric: bool, method: str, percentile: float = 99.99):
        super().__init__()
        self.bits, self.symmetric, self.method, self.percentile = (
            bits,
            symmetric,
            method,
            percentile,
        )
        self.observer = RangeObserver()
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("zero", torch.zeros(()))
        self.calibrated = False

    def set_range(self, lo: float, hi: float) -> None:
        scale, zero = Q.affine_params(torch.tensor(lo), torch.tensor(hi), self.bits, self.symmetric)
        self.scale.copy_(scale)
        self.zero.copy_(zero)
        self.calibrated = True
        self.range = (lo, hi)

    def calibrate(self) -> tuple[float, float]:
        """Fix the range from the observed values; stop observing."""
        lo, hi = calibrate_range(
            self.observer.collected(), self.method, self.bits, self.symmetric, self.percentile
        )
        self.set_range(lo, hi)
        self.observer.enabled = False
        self.observer.samples.clear()
        return lo, hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.calibrated:
            return self.observer(x)
        qmin, qmax = Q.qrange(self.bits, self.symmetric)
        if self.training and torch.is_grad_enabled():
            return Q.fake_quantize(x, self.scale, self.zero, qmin, qmax)
        return Q.dequantize(Q.quantize(x, self.scale, self.zero, qmin, qmax), self.scale, self.zero)


class QuantLinear(nn.Module):
    """``y = Q_a(x) W_q^T + b``: an ``nn.Linear`` with quantized weight (and input, optional).

    Keeps the wrapped layer's ``weight`` / ``bias`` parameters under the same names, so the
    state-dict keys of the model do not change.
    """

    def __init__(self, linear: nn.Linear, spec: WeightSpec, act: ActQuantizer | None = None):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.weight_quantizer = WeightQuantizer(spec, linear.weight.detach())
        self.act_quantizer = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act_quantizer is not None:
            x = self.act_quantizer(x)
        return F.linear(x, self.weight_quantizer(self.weight), self.bias)


class QuantEmbedding(nn.Module):
    """An ``nn.Embedding`` whose table is quantized (rows = tokens are the 'channels')."""

    def __init__(self, emb: nn.Embedding, spec: WeightSpec):
        super().__init__()
        self.num_embeddings, self.embedding_dim = emb.num_embeddings, emb.embedding_dim
        self.padding_idx = emb.padding_idx
        self.weight = emb.weight
        self.weight_quantizer = WeightQuantizer(spec, emb.weight.detach())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()):
            # eval: the stored form, dequantized once and cached
            return F.embedding(ids, self.weight_quantizer(self.weight), self.padding_idx)
        # QAT: only the rows this batch looks up are fake-quantized (a 30k-row table costs
        # more than the rest of a MiniLM step otherwise); same values and gradients.
        unique, inverse = torch.unique(ids, return_inverse=True)
        rows = self.weight_quantizer.train_rows(self.weight, unique)
        if self.padding_idx is not None:
            # like F.embedding(padding_idx=...): the padding row gets no gradient
            rows = torch.where((unique == self.padding_idx)[:, None], rows.detach(), rows)
        return rows[inverse]


def quantized_modules(model: nn.Module) -> dict[str, QuantLinear | QuantEmbedding]:
    """The quantized wrappers of a model, by module name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantLinear | QuantEmbedding)}


def has_quantized_weights(model: nn.Module) -> bool:
    """Whether any weight of ``model`` is already quantized: our wrappers, or torch.ao's
    quantized Linear (re-quantizing such a model to int8 would stack two roundings)."""
    from torch.ao.nn.quantized import dynamic as dynamic_quantized

    return bool(quantized_modules(model)) or any(
        isinstance(m, dynamic_quantized.Linear) for m in model.modules()
    )


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def wrap_modules(
    model: nn.Module, specs: dict[str, WeightSpec], act: dict | None = None
) -> nn.Module:
    """Replace each named Linear / Embedding by its quantized wrapper, in place.

    Args:
        model: the model to modify.
        specs: module name -> :class:`WeightSpec`.
        act: ``{"bits", "symmetric", "calibration", "percentile"}`` to also quantize the
            inputs of every wrapped Linear (activation quantization), or None.
    """
    for name, spec in specs.items():
        module = model.get_submodule(name)
        if isinstance(module, nn.Linear):
            aq = (
                ActQuantizer(
                    act["bits"], act["symmetric"], act["calibration"], act.get("percentile", 99.99)
                )
                if act
                else None
            )
            set_submodule(model, name, QuantLinear(module, spec, aq))
        elif isinstance(module, nn.Embedding):
            set_submodule(model, name, QuantEmbedding(module, spec))
        else:
            raise TypeError(
                f"{name} is a {type(module).__name__}; only Linear and Embedding are quantized"
            )
    return model


def act_quantizers(model: nn.Module) -> dict[str, ActQuantizer]:
    return {
        n: m.act_quantizer
        for n, m in quantized_modules(model).items()
        if isinstance(m, QuantLinear) and m.act_quantizer is not None
    }


def start_calibration(model: nn.Module) -> None:
    for aq in act_quantizers(model).values():
        aq.calibrated = False
        aq.observer.enabled = True


def finish_calibration(model: nn.Module) -> dict[str, tuple[float, float]]:
    """Fix every activation range from what was observed; returns name -> (lo, hi)."""
    return {n: aq.calibrate() for n, aq in act_quantizers(model).items()}


def dequantized_copy(model: nn.Module) -> nn.Module:
    """Replace wrappers by plain Linear / Embedding holding the dequantized weights, in place.

    Only valid without activation quantization. The result runs on any fp32 runtime
    (a simulation of the quantized weights, not a low-precision kernel).
    """
    for name, module in list(quantized_modules(model).items()):
        with torch.no_grad():
            wq = module.weight_quantizer.eval()(module.weight)
        if isinstance(module, QuantLinear):
            if module.act_quantizer is not None:
                raise ValueError(
                    "a model with activation quantization has no plain dequantized equivalent"
                )
            plain = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
            plain.weight = nn.Parameter(wq)
            if module.bias is not None:
                plain.bias = nn.Parameter(module.bias.detach().clone())
        else:
            plain = nn.Embedding(
                module.num_embeddings, module.embedding_dim, padding_idx=module.padding_idx
            )
            plain.weight = nn.Parameter(wq)
        set_submodule(model, name, plain)
    return model
