"""Turn plain mappings (a resolved Hydra config) into frozen, validated dataclasses.

Each config section is a dataclass whose ``__post_init__`` checks values with
:func:`check`. :func:`build_section` refuses unknown keys and wrong types before any
work starts, naming the full dotted key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, Union

from nlpcompress.config.errors import ConfigError

T = TypeVar("T")
_SECTIONS: dict[str, type] = {}


def register_section(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: the schema of the top-level config key ``name`` (e.g. ``quant``)."""

    def wrap(cls: type[T]) -> type[T]:
        _SECTIONS[name] = cls
        return cls

    return wrap


def section_schema(name: str) -> type | None:
    """The schema registered for a top-level key, or None."""
    return _SECTIONS.get(name)


def check(ok: bool, key: str, value: object, allowed: str) -> None:
    """Raise :class:`ConfigError` unless ``ok``."""
    if not ok:
        raise ConfigError(key, value, allowed)


def check_kd(temperature: float, alpha: float, prefix: str = "distill_") -> None:
    """The logit-KD knobs of :func:`~nlpcompress.distill.losses.kd_loss`: ``T > 0``,
    ``alpha`` in [0, 1]."""
    check(temperature > 0, f"{prefix}temperature", temperature, "a number > 0")
    check(0.0 <= alpha <= 1.0, f"{prefix}alpha", alpha, "in [0, 1]")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(err.allowed)
        raise ConfigError(key, value, " or ".join(errors))
    if origin is typing.Literal:
        options = typing.get_args(tp)
        check(value in options, key, value, "one of " + ", ".join(map(repr, options)))
        return value
    if origin in (list, tuple):
        check(isinstance(value, list | tuple), key, value, f"a list ({_type_name(tp)})")
        (inner, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        check(isinstance(value, Mapping), key, value, "a mapping")
        _, inner = typing.get_args(tp) or (str, Any)
        return {str(k): _coerce(v, inner, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        check(isinstance(value, Mapping), key, value, f"a mapping of {tp.__name__} keys")
        return build_section(tp, value, key)
    if tp is bool:
        check(isinstance(value, bool), key, value, "true or false")
        return value
    if tp is int:
        check(isinstance(value, int) and not isinstance(value, bool), key, value, "an integer")
        return value
    if tp is float:
        check(
            isinstance(value, int | float) and not isinstance(value, bool), key, value, "a number"
        )
        return float(value)
    if tp is str:
        check(isinstance(value, str), key, value, "a string")
        return value
    return value


def build_section(cls: type[T], mapping: Mapping[str, Any] | None, prefix: str) -> T:
    """Build dataclass ``cls`` from ``mapping``; keys are checked against the schema.

    Args:
        cls: the dataclass schema.
        mapping: plain values (``OmegaConf.to_container(..., resolve=True)``).
        prefix: the dotted key of this section, used in error messages.

    Raises:
        ConfigError: unknown key, wrong type, or a value its ``__post_init__`` refuses.
    """
    mapping = dict(mapping or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}",
            mapping[unknown[0]],
            "one of the keys " + ", ".join(sorted(fields)),
        )
    kwargs = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}"
        if name in mapping:
            kwargs[name] = _coerce(mapping[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(
                key, None, f"a value ({_type_name(hints[name])}); this key is required"
            )
    try:
        return cls(**kwargs)
    except ConfigError as err:
        if not err.key.startswith(prefix):
            raise ConfigError(f"{prefix}.{err.key}", err.value, err.allowed) from None
        raise
