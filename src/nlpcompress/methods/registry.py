"""Registry of compression methods: ``method.name`` -> how to run it.

Each method module registers itself with :func:`register_method`; every module in
``nlpcompress.methods`` is imported on first lookup, so adding a method needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nlpcompress.config.errors import ConfigError
from nlpcompress.config.schema import MethodConfig

if TYPE_CHECKING:
    from nlpcompress.config.run import RunConfig
    from nlpcompress.methods.base import CompressedModel, MethodContext


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the ``method=`` option.
        run: builds the compressed model from the context.
        config_cls: schema of the ``method`` group (a :class:`MethodConfig` subclass).
        sections: the groups it needs (e.g. ``("quant",)``).
        validate: cross-section checks run before any work; raise ConfigError.
        needs_baseline: whether the fine-tuned baseline must exist first.
    """

    name: str
    run: Callable[[MethodContext], CompressedModel]
    config_cls: type = MethodConfig
    sections: tuple[str, ...] = ()
    validate: Callable[[RunConfig], None] = lambda cfg: None
    needs_baseline: bool = True


_METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    *,
    config_cls: type = MethodConfig,
    sections: tuple[str, ...] = (),
    validate: Callable[[Any], None] | None = None,
    needs_baseline: bool = True,
):
    """Decorator registering ``run(ctx) -> CompressedModel`` as ``method=name``."""

    def wrap(fn):
        _METHODS[name] = MethodSpec(
            name, fn, config_cls, sections, validate or (lambda cfg: None), needs_baseline
        )
        return fn

    return wrap


def _discover() -> None:
    import nlpcompress.methods as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name not in ("base", "registry"):
            importlib.import_module(f"nlpcompress.methods.{info.name}")


def method_spec(name: str) -> MethodSpec:
    """The spec of ``method=name``; ConfigError listing the known methods otherwise."""
    if not _METHODS or name not in _METHODS:
        _discover()
    if name not in _METHODS:
        raise ConfigError("method.name", name, "one of " + ", ".join(sorted(_METHODS)))
    return _METHODS[name]


def known_methods() -> list[str]:
    _discover()
    return sorted(_METHODS)
