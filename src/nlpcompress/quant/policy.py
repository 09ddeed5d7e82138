"""Which module gets which quantizer: ``quant`` config + module names -> :class:`WeightSpec` per module.

Linear layers get ``quant.bits`` in ``quant.form``; embedding tables get
``quant.embedding_bits`` (int form); ``quant.policy`` glob patterns override the width
per module (the last matching pattern wins; 1 bit means binary); ``quant.skip`` patterns
stay fp32. Patterns are :mod:`fnmatch` globs on module names such as
``bert.encoder.layer.0.attention.self.query`` (``*`` also matches dots).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from torch import nn

from nlpcompress.config.errors import ConfigError
from nlpcompress.quant.config import QuantConfig
from nlpcompress.quant.modules import WeightSpec, split_ternary_layers, wrap_modules


def quantizable_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Every Linear and Embedding of ``model``, by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Embedding)}


def spec_for(cfg: QuantConfig, module: nn.Module, bits: int, from_policy: bool) -> WeightSpec:
    if isinstance(module, nn.Embedding):
        return WeightSpec("int", bits, cfg.symmetric, cfg.granularity, cfg.group_size)
    form = cfg.form
    if from_policy and bits != cfg.bits:
        form = "binary" if bits == 1 else ("fixed_point" if cfg.form == "fixed_point" else "int")
    if form == "int":
        return WeightSpec(
            "int",
            bits,
            cfg.symmetric,
            cfg.granularity,
            cfg.group_size,
            lsq=cfg.lsq,
            lsq_init=cfg.lsq_init,
        )
    if form == "fixed_point":
        return WeightSpec("fixed_point", bits, True, "per_tensor", None, cfg.frac_bits)
    if form == "split_binary":  # wrapped ternary; quantize_model splits it
        form = "ternary"
    return WeightSpec(form, bits, True, "per_channel", None)


def layer_bits(
    cfg: QuantConfig, model: nn.Module, overrides: dict[str, int] | None = None
) -> dict[str, tuple[int, bool]]:
    """Module name -> (bits, set by a policy/override) for every module that is quantized."""
    out = {}
    for name, module in quantizable_modules(model).items():
        if any(fnmatchcase(name, p) for p in cfg.skip):
            continue
        is_emb = isinstance(module, nn.Embedding)
        bits, from_policy = (cfg.embedding_bits if is_emb else cfg.bits), False
        for pattern, b in cfg.policy.items():
            if fnmatchcase(name, pattern):
                bits, from_policy = b, True
        if overrides and name in overrides:
            bits, from_policy = overrides[name], True
        if bits is None:
            continue
        if is_emb and bits < 2:
            raise ConfigError(f"quant.policy[{name}]", bits, "2..8 bits for an embedding table")
        out[name] = (bits, from_policy)
    return out


def build_specs(
    cfg: QuantConfig, model: nn.Module, overrides: dict[str, int] | None = None
) -> dict[str, WeightSpec]:
    """The :class:`WeightSpec` of every module to quantize."""
    modules = quantizable_modules(model)
    return {
        name: spec_for(cfg, modules[name], bits, pol)
        for name, (bits, pol) in layer_bits(cfg, model, overrides).items()
    }


def check_against_model(cfg: QuantConfig, model: nn.Module, prefix: str = "quant") -> None:
    """Raise ConfigError for policy patterns matching nothing or group sizes that do not divide.

    ``model`` may live on the meta device (built from the config alone, no weights).
    """
    modules = quantizable_modules(model)
    for pattern in cfg.policy:
        if not any(fnmatchcase(n, pattern) for n in modules):
            examples = ", ".join(list(modules)[:3])
            raise ConfigError(
                f"{prefix}.policy",
                pattern,
                f"a glob matching a Linear/Embedding module name, e.g. {examples}",
            )
    specs = build_specs(cfg, model)
    for name, spec in specs.items():
        if spec.granularity == "per_group":
            cols = modules[name].weight.shape[1]
            if cols % spec.group_size:
                raise ConfigError(
                    f"{prefix}.group_size",
                    spec.group_size,
                    f"a divisor of every quantized row length ({name} has {cols})",
                )


def quantize_model(
    model: nn.Module,
    cfg: QuantConfig,
    overrides: dict[str, int] | None = None,
    split: bool = True,
) -> nn.Module:
    """Wrap the model's Linear / Embedding layers with fake-quant wrappers per ``cfg``, in place.

    ``form=split_binary`` wraps the Linear layers as ternary and, with ``split``, splits them
    at once (:func:`split_ternary_layers`); QAT passes ``split=False`` to train the ternary
    model first.
    """
    act = None
    if cfg.act_bits is not None:
        act = {
            "bits": cfg.act_bits,
            "symmetric": cfg.act_symmetric,
            "calibration": cfg.act_calibration,
            "percentile": cfg.act_percentile,
        }
    specs = build_specs(cfg, model, overrides)
    # activation quantization applies to Linear inputs only: wrap_modules ignores it for embeddings
    wrap_modules(model, specs, act)
    if split and cfg.form == "split_binary":
        split_ternary_layers(model)
    return model
