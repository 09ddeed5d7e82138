"""Registry of compression methods: ``method.name`` -> how to validate and run it.

One explicit table, :data:`METHODS`. It holds each method's config schema (a light class)
and names its implementation and its model-dependent checks as ``"module:function"``, imported
only when first used: the CLI validates a config with this table before torch, Lightning,
transformers or MLflow are imported, so a bad value is refused in under two seconds.

Adding a method: write ``methods/<name>.py`` with ``run_<name>(ctx) -> CompressedModel``, put
its ``method`` schema in a light module (:mod:`nlpcompress.methods.configs`), add a row here
and a ``conf/method/<name>.yaml``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Imported for their @register_section side effect: the schemas of the method sections
# (quant, prune, distill, pair, pipeline). All import-light.
import nlpcompress.distill.config
import nlpcompress.prune.config
import nlpcompress.quant.config  # noqa: F401
from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import MethodConfig
from nlpcompress.distill.config import DistillMethodConfig
from nlpcompress.methods.configs import (
    MixedPrecisionMethodConfig,
    PipelineConfig,  # noqa: F401  (registers the `pipeline` section)
    PTQMethodConfig,
    QATMethodConfig,
    VocabPruneMethodConfig,
)

if TYPE_CHECKING:
    from nlpcompress.config.run import RunConfig
    from nlpcompress.methods.base import CompressedModel, MethodContext


def _load(ref: str) -> Callable:
    """The object a ``"package.module:attribute"`` reference names (imports the module)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the ``method=`` option.
        run_ref: ``"module:function"`` building the compressed model from the context.
        config_cls: schema of the ``method`` group (a light :class:`MethodConfig` subclass).
        sections: the groups it needs (e.g. ``("quant",)``).
        validate_ref: ``"module:function(cfg)"``, the cross-section checks that may need the
            model (its skeleton, its HF config); run after the schema checks, before any work.
        needs_baseline: whether the fine-tuned baseline must exist first.
    """

    name: str
    run_ref: str
    config_cls: type = MethodConfig
    sections: tuple[str, ...] = ()
    validate_ref: str | None = None
    needs_baseline: bool = True

    @property
    def run(self) -> Callable[[MethodContext], CompressedModel]:
        """The implementation (importing it, and with it torch and Lightning)."""
        return _load(self.run_ref)

    def validate(self, cfg: RunConfig) -> None:
        """Cross-section checks; raise ConfigError."""
        if self.validate_ref is not None:
            _load(self.validate_ref)(cfg)


_QUANT_CHECKS = "nlpcompress.methods.quant_workflow:validate_quant"
METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("baseline", "nlpcompress.methods.baseline:run_baseline"),
        MethodSpec(
            "ptq",
            "nlpcompress.methods.ptq:run_ptq",
            PTQMethodConfig,
            ("quant",),
            _QUANT_CHECKS,
        ),
        MethodSpec(
            "qat", "nlpcompress.methods.qat:run_qat", QATMethodConfig, ("quant",), _QUANT_CHECKS
        ),
        MethodSpec(
            "mixed_precision",
            "nlpcompress.methods.mixed_precision:run_mixed_precision",
            MixedPrecisionMethodConfig,
            ("quant",),
            _QUANT_CHECKS,
        ),
        MethodSpec(
            "prune",
            "nlpcompress.methods.prune:run_prune",
            sections=("prune",),
            validate_ref="nlpcompress.methods.prune:validate",
        ),
        MethodSpec(
            "distill",
            "nlpcompress.methods.distill:run_distill",
            DistillMethodConfig,
            ("distill", "pair"),
            "nlpcompress.distill.config:validate_distill",
        ),
        MethodSpec(
            "pipeline",
            "nlpcompress.methods.pipeline:run_pipeline",
            sections=("pipeline",),
            validate_ref="nlpcompress.methods.pipeline:validate_pipeline",
        ),
        MethodSpec(
            "vocab_prune",
            "nlpcompress.methods.vocab_prune:run_vocab_prune",
            VocabPruneMethodConfig,
            validate_ref="nlpcompress.methods.vocab_prune:validate",
        ),
    )
}


def method_spec(name: str) -> MethodSpec:
    """The spec of ``method=name``; ConfigError listing the known methods otherwise."""
    if name not in METHODS:
        raise ConfigError("method.name", name, "one of " + ", ".join(sorted(METHODS)))
    return METHODS[name]


def known_methods() -> list[str]:
    return sorted(METHODS)
