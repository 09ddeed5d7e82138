"""Hydra's "Could not override 'quant.bits'" in the project's words: the key and what is allowed.

Hydra composes the config before any of our code runs; an override of a key the composed config
does not have fails there (``ConfigCompositionException``, exit 1, with a hint to append it with
``+``). The usual causes, and what :func:`override_refusal` says instead:

- a knob of a method group the run did not select (``nlpcompress quant.bits=0``: the default
  ``method=baseline`` has no ``quant`` section): the methods that read that group, from the
  ``defaults`` of ``conf/method/*.yaml``;
- a knob the section's schema has but the preset leaves out (``data.max_train_samples=8000``):
  the same override with Hydra's ``+``;
- a typo (``trainer.learnin_rate=1``): the keys the section does have.

Standard library and OmegaConf only: it runs before torch and friends are imported. The
schemas of the method sections (``quant``, ``prune``, ``distill``, ``pair``) are found once their
modules are imported; the CLI imports :mod:`nlpcompress.methods.registry` first.
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nlpcompress.config.errors import ConfigError

_COULD_NOT_OVERRIDE = re.compile(r"Could not override '([^']+)'")
_APPEND_HINT = re.compile(r"use \+(\S+?)=(.*)$", re.MULTILINE)


def groups_by_method(conf_dir: Path) -> dict[str, set[str]]:
    """``method name -> config groups its preset selects`` (``/quant: int8`` -> ``quant``)."""
    found: dict[str, set[str]] = {}
    for path in sorted((Path(conf_dir) / "method").glob("*.yaml")):
        defaults = OmegaConf.load(path).get("defaults") or []
        groups = set()
        for entry in defaults:
            if isinstance(entry, DictConfig | dict):
                groups.update(str(key).lstrip("/").split("@")[0] for key in entry)
        found[path.stem] = {g for g in groups if g and g != "_self_"}
    return found


def override_refusal(error: BaseException, conf_dir: Path) -> ConfigError | None:
    """A :class:`ConfigError` for Hydra's failed override ``error``, or None for another error.

    Args:
        error: what Hydra raised while composing (a ``ConfigCompositionException``).
        conf_dir: the ``conf/`` folder (its ``method/*.yaml`` name the method groups).
    """
    found = _COULD_NOT_OVERRIDE.search(str(error))
    if found is None:
        return None
    key = found.group(1)
    hint = _APPEND_HINT.search(str(error))
    value = _plain(hint.group(2)) if hint is not None and hint.group(1) == key else "?"
    group = key.split(".")[0]
    by_method = groups_by_method(conf_dir)
    readers = sorted(m for m, groups in by_method.items() if group in groups)
    # the group itself is missing (full_key "quant"), not a key below it ("pair.student.x")
    missing = getattr(error.__cause__, "full_key", None)
    if readers and missing in (None, group):
        methods = ", ".join(f"method={m}" for m in readers)
        # the simplest reader first: the method named after the group, then the fewest groups
        simplest = min(readers, key=lambda m: (m != group, len(by_method[m]), len(m), m))
        return ConfigError(
            key,
            value,
            f"{group}.* only with a method that has a '{group}' section ({methods}); this "
            f"run's method has none: add e.g. method={simplest}",
        )
    if _schema_field(key):
        return ConfigError(
            key,
            value,
            f"+{key}={hint.group(2) if hint else '...'} ({key} is a knob this config leaves "
            "unset; Hydra adds a key with a leading +)",
        )
    parent = getattr(error.__cause__, "parent_node", None)
    if isinstance(parent, DictConfig):
        where = key.rsplit(".", 1)[0] if "." in key else "the top level"
        keys = ", ".join(str(k) for k in parent)
        return ConfigError(key, value, f"a key that {where} has: {keys}")
    return ConfigError(key, value, "a key the config has (`nlpcompress --cfg job` prints them)")


def _schema_field(key: str) -> bool:
    """Whether ``section.field[.field...]`` names a field of the section's schema, following
    nested dataclasses (``data.max_train_samples``, ``pair.student.embedding_init``: knobs the
    presets leave out of their YAML)."""
    import dataclasses
    import typing

    import nlpcompress.config.schema  # noqa: F401  (registers the core sections' schemas)
    from nlpcompress.config.typed import section_schema

    section, *names = key.split(".")
    schema = section_schema(section)
    for name in names:
        if schema is None or not dataclasses.is_dataclass(schema):
            return False
        hints = typing.get_type_hints(schema)
        if name not in {f.name for f in dataclasses.fields(schema)}:
            return False
        kinds = [hints[name], *typing.get_args(hints[name])]  # X, or the X of X | None
        schema = next((k for k in kinds if dataclasses.is_dataclass(k)), None)
    return bool(names)


def _plain(text: str) -> object:
    """``"0"`` -> 0, ``"1e-4"`` -> 0.0001, anything else stays text (as the command line had it)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
