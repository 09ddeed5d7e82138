"""The whole run's typed config, built once by the CLI before any work.

The config layer knows no method: the CLI looks the method's spec up in
:mod:`nlpcompress.methods.registry` and passes it to :func:`build_run_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from nlpcompress.config import metric_names as names
from nlpcompress.config.errors import ConfigError
from nlpcompress.config.hashing import RESULT_NEUTRAL_KEYS, stable_hash
from nlpcompress.config.schema import (
    DataConfig,
    DeployConfig,
    LoggerConfig,
    MeasureConfig,
    ModelConfig,
    PathsConfig,
    TrainerConfig,
)
from nlpcompress.config.typed import build_section, check, section_schema

CORE_KEYS = ("data", "model", "trainer", "logger", "paths", "measure", "deploy", "method")
TOP_LEVEL_SCALARS = {
    "seed": int,
    "resume": bool,
    "task_name": str,
    "objective": str,
    "objective_max_acc_drop": (int, float),
}
IGNORED_KEYS = ("hydra", "experiment", "debug", "sweep", "seeds")


class MethodSchema(Protocol):
    """What config building needs from a method's spec
    (:class:`nlpcompress.methods.registry.MethodSpec`)."""

    name: str
    config_cls: type
    sections: tuple[str, ...]
    validate: Callable[[RunConfig], None]


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, typed and validated.

    ``sections`` holds the method-specific groups (``quant``, ``prune``, ``distill``,
    ``pair``, ``pipeline``) that the chosen method pulled into the config.
    """

    data: DataConfig
    model: ModelConfig
    trainer: TrainerConfig
    logger: LoggerConfig
    paths: PathsConfig
    measure: MeasureConfig
    deploy: DeployConfig
    method: Any
    seed: int = 42
    resume: bool = True
    objective: str = names.TEST_ACC
    objective_max_acc_drop: float | None = None
    task_name: str = "run"
    sections: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Any:
        """A method-specific section; a clear error if the method's config lacks it."""
        if name not in self.sections:
            raise ConfigError(
                name, None, f"a `{name}` group: method={self.method.name} needs `{name}=<option>`"
            )
        return self.sections[name]

    def to_dict(self) -> dict[str, Any]:
        out = {k: asdict(getattr(self, k)) for k in CORE_KEYS}
        out.update({k: asdict(v) for k, v in self.sections.items()})
        out.update(
            seed=self.seed,
            resume=self.resume,
            objective=self.objective,
            task_name=self.task_name,
            objective_max_acc_drop=self.objective_max_acc_drop,
        )
        return out

    def config_hash(self, data_digest: str | None = None) -> str:
        """Hash of what determines the result (not where it is logged or written).

        Args:
            data_digest: digest of the data files' bytes (:func:`nlpcompress.data.digest.data_digest`),
                so that a data file edited in place gives another hash.
        """
        payload = self.to_dict()
        if data_digest is not None:
            payload["data_digest"] = data_digest
        for key in RESULT_NEUTRAL_KEYS:
            section, _, name = key.partition(".")
            if name:
                payload.get(section, {}).pop(name, None)
            else:
                payload.pop(section, None)
        return stable_hash(payload)


def method_name(raw: dict[str, Any]) -> str:
    """``method.name`` of a resolved config mapping (ConfigError when there is none)."""
    method = raw.get("method")
    check(isinstance(method, dict), "method", method, "a `method` group in the config")
    check("name" in method, "method.name", None, "the name of a registered method")
    return method["name"]


def build_run_config(raw: dict[str, Any], spec: MethodSchema) -> RunConfig:
    """Validate a resolved config mapping into a :class:`RunConfig`.

    Schema checks first (import-light); then ``spec.validate``, the method's cross-section
    checks, which may import the model code.

    Args:
        raw: ``OmegaConf.to_container(cfg, resolve=True)``.
        spec: the spec of ``method.name`` (``method_spec(method_name(raw))``).

    Raises:
        ConfigError: the first bad key, with its value and what is allowed.
    """
    raw = {k: v for k, v in raw.items() if k not in IGNORED_KEYS}
    for key in CORE_KEYS:
        check(key in raw, key, None, f"a `{key}` group in the config")
    method_raw = dict(raw["method"] or {})
    check(
        method_raw.get("name") == spec.name,
        "method.name",
        method_raw.get("name"),
        f"{spec.name!r}, the method whose spec was passed",
    )
    core = {
        "data": build_section(DataConfig, raw["data"], "data"),
        "model": build_section(ModelConfig, raw["model"], "model"),
        "trainer": build_section(TrainerConfig, raw["trainer"], "trainer"),
        "logger": build_section(LoggerConfig, raw["logger"], "logger"),
        "paths": build_section(PathsConfig, raw["paths"], "paths"),
        "measure": build_section(MeasureConfig, raw.get("measure"), "measure"),
        "deploy": build_section(DeployConfig, raw.get("deploy"), "deploy"),
        "method": build_section(spec.config_cls, method_raw, "method"),
    }
    scalars = {}
    for key, tp in TOP_LEVEL_SCALARS.items():
        if key in raw:
            value = raw[key]
            if value is None and key == "objective_max_acc_drop":
                continue
            ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
            check(ok, key, value, "a number" if isinstance(tp, tuple) else f"a {tp.__name__}")
            scalars[key] = float(value) if isinstance(tp, tuple) else value
    sections = {}
    for key, value in raw.items():
        if key in CORE_KEYS or key in TOP_LEVEL_SCALARS:
            continue
        schema = section_schema(key)
        check(
            schema is not None,
            key,
            value,
            "a known config group: "
            + ", ".join(CORE_KEYS + tuple(TOP_LEVEL_SCALARS))
            + " or a method's section",
        )
        sections[key] = build_section(schema, value, key)
    for needed in spec.sections:
        check(
            needed in sections,
            needed,
            None,
            f"a `{needed}` group: method={spec.name} needs `{needed}=<option>`",
        )
    cfg = RunConfig(**core, **scalars, sections=sections)
    spec.validate(cfg)
    return cfg
