"""The composition root: the only place that calls Hydra.

``nlpcompress [overrides]`` runs one experiment; ``nlpcompress -m a=1,2`` a sweep. Each job
is one MLflow run. A job that fails is recorded FAILED with its error and a multirun goes on
with the next job; a single run exits non-zero. A bad config exits with code 2 and one line
naming the key before any work; so do an output, cache or store folder that cannot be written
and a tracking server that does not answer (checked by :class:`Preflight`, within seconds).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from nlpcompress.config import metric_names as names
from nlpcompress.config.errors import ConfigError, DataError, ModelLoadError
from nlpcompress.tracking.stores import remember_store

log = logging.getLogger("nlpcompress")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = Path(os.environ.get("NLPCOMPRESS_CONF_DIR", PROJECT_ROOT / "conf")).resolve()
# a job still alive this long after its SIGTERM prints its stacks and exits 143 (lifecycle.py)
INTERRUPT_EXIT_DEADLINE_S = 60.0

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
if not OmegaConf.has_resolver("csv"):
    # `seeds: [1, 2, 3]` -> sweeper params `seed: ${csv:${seeds}}` -> "1,2,3"
    OmegaConf.register_new_resolver("csv", lambda values: ",".join(str(v) for v in values))


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def _run_name(cfg) -> str:
    """``logger.run_name``, else the method and what its sections say (``qat-int4-w4e32``).

    Model and data are left out: they are the ``model`` and ``data`` tags (columns of their own),
    and the MLflow run list shows only the first ~25 characters of a name.
    """
    if cfg.logger.run_name:
        return cfg.logger.run_name
    parts = [cfg.method.name]
    for section in cfg.sections.values():
        describe = getattr(section, "describe", None)
        if callable(describe):
            parts.insert(1, describe())
    return "-".join(parts)


def run_task(dcfg: DictConfig) -> float:
    """Validate, track and execute one job; returns ``cfg.objective`` for sweepers."""
    from nlpcompress.training.distributed import isolated_run

    # DDP: Lightning's ddp launcher re-executes sys.argv for ranks > 0; in a sweep, make that
    # this job alone, and undo the launcher's env/process group before the next job.
    with isolated_run(_job_overrides() if _is_multirun() else None):
        return _run_task(dcfg)


def _job_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


def run_config(raw: dict):
    """The typed, validated :class:`~nlpcompress.config.run.RunConfig` of a resolved config.

    The composition root wires the config layer to the method registry: the method's spec
    (a light table) is looked up and passed to config building. Every pure-config check runs
    before torch, Lightning, transformers or MLflow are imported (a bad value is refused in
    under two seconds); the method's model-dependent checks import what they need afterwards.

    Raises:
        ConfigError: the first bad key, with its value and what is allowed.
    """
    from nlpcompress.config.run import build_run_config, method_name
    from nlpcompress.methods.registry import method_spec
    from nlpcompress.models.assets import check_input_length

    cfg = build_run_config(raw, method_spec(method_name(raw)))
    check_input_length(cfg.model, cfg.data, cfg.measure)
    return cfg


def _run_task(dcfg: DictConfig) -> float:
    from nlpcompress.logging_setup import quiet_libraries
    from nlpcompress.tracking.lifecycle import Interrupted, interrupts_raise

    quiet_libraries()
    multirun = _is_multirun()
    # A sweep checked its base config up front; a job may sweep the paths or the store itself,
    # and a dead store must not cost it minutes of retries (nor recording the failure there).
    if multirun and _preflight_failed(dcfg):
        _job_status("failed")
        return float("nan")
    raw = OmegaConf.to_container(dcfg, resolve=True)
    try:
        cfg = run_config(raw)
    except ConfigError as err:
        print(f"nlpcompress: {err}", file=sys.stderr)
        if multirun:
            _record_config_failure(raw, err)
            _job_status("failed")
            return float("nan")
        sys.exit(2)
    try:
        with interrupts_raise(exit_deadline_s=INTERRUPT_EXIT_DEADLINE_S):
            return _tracked_run(dcfg, cfg, multirun)
    except Interrupted as err:
        # SIGTERM: the run is KILLED (done in _tracked_run); the process exits 128 + 15.
        print(f"nlpcompress: {err}; the run is marked KILLED", file=sys.stderr)
        sys.exit(err.exit_code)


def _tracked_run(dcfg: DictConfig, cfg, multirun: bool) -> float:
    import torch

    from nlpcompress.data.digest import data_digest
    from nlpcompress.tracking.conventions import source_tags
    from nlpcompress.tracking.lifecycle import job_lock, process_tags, reap_dead_runs
    from nlpcompress.tracking.run import (
        RunTracker,
        cpu_flags,
        cpu_model,
        git_commit,
        resolve_tracking_uri,
    )

    tracker = RunTracker(
        resolve_tracking_uri(cfg.logger.tracking_uri, cfg.paths.mlflow_dir),
        cfg.logger.experiment_name,
        str(Path(cfg.paths.mlflow_dir) / "artifacts"),
    )
    digest = data_digest(cfg.data)
    config_hash = cfg.config_hash(digest)
    resume = multirun and cfg.resume
    lock = (
        job_lock(
            Path(cfg.paths.cache_dir) / "locks",
            tracker.tracking_uri,
            cfg.logger.experiment_name,
            config_hash,
        )
        if resume
        else contextlib.nullcontext()
    )
    with lock:
        if resume:
            for run_id in reap_dead_runs(tracker.client, tracker.experiment_id, config_hash):
                log.warning("resume: run %s was RUNNING but its process is gone: KILLED", run_id)
            done = tracker.finished_run_with_hash(config_hash)
            if done:
                log.info(
                    "resume: skipping, run %s already FINISHED with config hash %s",
                    done,
                    config_hash,
                )
                _job_status("skipped", done)
                return objective_value(tracker.client.get_run(done).data.metrics, cfg)
        tags = {
            "method": cfg.method.name,
            "model": cfg.model.name,
            "data": cfg.data.name,
            "config_hash": config_hash,
            "data_digest": digest or "none",
            "git_commit": git_commit(PROJECT_ROOT),
            "cpu_model": cpu_model(),
            "cpu_flags": cpu_flags(),
            "torch_version": torch.__version__,
            "nlpcompress_version": __import__("nlpcompress").__version__,
            "deploy_backend": cfg.deploy.backend,
            **source_tags(PROJECT_ROOT),
            **process_tags(),
            **cfg.logger.tags,
        }
        tracker.start(_run_name(cfg), tags)
        remember_store(tracker.tracking_uri)  # so nlpcompress-report finds it from anywhere
        tracker.log_params(cfg.to_dict())
        tracker.log_text(OmegaConf.to_yaml(dcfg, resolve=True), "config.yaml")
        return _execute(cfg, tracker, multirun)


def _execute(cfg, tracker, multirun: bool) -> float:
    from nlpcompress.runner import execute

    try:
        outcome = execute(cfg, tracker)
    except BaseException as err:  # noqa: BLE001 (interrupts too: the run must not stay RUNNING)
        interrupted = not isinstance(err, Exception)
        tracker.set_tags({"error": f"{type(err).__name__}: {err}"[:5000]})
        tracker.log_text(traceback.format_exc(), "error.txt")
        tracker.finish("KILLED" if interrupted else "FAILED")
        _job_status("killed" if interrupted else "failed", tracker.run_id)
        if interrupted:
            log.error("run %s KILLED: %s", tracker.run_id, type(err).__name__)
            raise
        log.error("run %s FAILED: %s: %s", tracker.run_id, type(err).__name__, err)
        if multirun:
            return float("nan")
        if isinstance(err, DataError | ConfigError | ModelLoadError):
            print(f"nlpcompress: {err}", file=sys.stderr)
            sys.exit(2)
        raise
    tracker.finish("FINISHED")
    _job_status("finished", tracker.run_id)
    if tracker.active:  # DDP ranks > 0 have nothing to report
        _print_summary(outcome.metrics, tracker)
    return objective_value(outcome.metrics, cfg)


def _job_status(status: str, run_id: str | None = None) -> None:
    """In a sweep, record this job's outcome in its Hydra folder (for the summary line)."""
    if not _is_multirun():
        return
    from hydra.core.hydra_config import HydraConfig

    from nlpcompress.tracking.sweep_status import write_status

    write_status(HydraConfig.get().runtime.output_dir, status, run_id)


def objective_value(metrics: dict[str, float], cfg) -> float:
    """``cfg.objective`` of this run; +inf when the accuracy-drop bound is exceeded."""
    bound = cfg.objective_max_acc_drop
    if bound is not None and metrics.get(names.TEST_ACC_DROP, float("inf")) > bound:
        return float("inf")
    return float(metrics.get(cfg.objective, float("nan")))


def _record_config_failure(raw: dict, err: ConfigError) -> None:
    """In a sweep, a job with a bad config is a FAILED run (so the sweep shows it), named
    after its overrides, with them as params, a hash of the raw config and ``error.txt``."""
    from nlpcompress.config.hashing import stable_hash
    from nlpcompress.tracking.conventions import source_tags
    from nlpcompress.tracking.lifecycle import process_tags
    from nlpcompress.tracking.run import RunTracker, resolve_tracking_uri

    logger = raw.get("logger") or {}
    paths = raw.get("paths") or {}
    tracker = RunTracker(
        resolve_tracking_uri(logger.get("tracking_uri"), paths.get("mlflow_dir", "outputs/mlflow")),
        logger.get("experiment_name", "nlpcompress"),
        str(Path(paths.get("mlflow_dir", "outputs/mlflow")) / "artifacts"),
    )
    overrides = _job_overrides()
    described = [o for o in overrides if not o.startswith(("paths.", "logger.", "hydra"))]
    name = "invalid-config-" + "-".join(o.replace("/", "_") for o in described)[:200]
    payload = {k: v for k, v in raw.items() if k not in ("hydra", "paths", "logger")}
    tracker.start(
        name,
        {
            "error": str(err),
            "config_hash": stable_hash(payload),
            **source_tags(PROJECT_ROOT),
            **process_tags(),
        },
    )
    tracker.log_params({f"override.{i}": o for i, o in enumerate(overrides)})
    tracker.log_text(f"nlpcompress: {err}\noverrides: {' '.join(overrides)}\n", "error.txt")
    tracker.finish("FAILED")


class Preflight(Callback):
    """Hydra callback: before Hydra creates a folder or a job loads anything, check that the
    output, cache and store folders can be written and the tracking server answers; exit 2
    with one line naming the key otherwise (as a bad config does)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        if _preflight_failed(config):
            sys.exit(2)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if _preflight_failed(config):
            sys.exit(2)


def _preflight_failed(config: DictConfig) -> bool:
    """Run the preflight checks on ``config``; print the error line and say so if one fails."""
    from nlpcompress.tracking.preflight import WRITTEN_PATHS, check_run

    keys = (*WRITTEN_PATHS, "mlflow_dir")
    # Only these keys are resolved: paths.run_dir needs Hydra's runtime, not set yet.
    paths = {name: str(OmegaConf.select(config, f"paths.{name}")) for name in keys}
    raw = OmegaConf.to_container(config.paths, resolve=False)
    try:
        check_run(paths, OmegaConf.select(config, "logger.tracking_uri"), raw)
    except ConfigError as err:
        print(f"nlpcompress: {err}", file=sys.stderr)
        return True
    return False


class SweepSummary(Callback):
    """Hydra callback: after the last job, print ``sweep: N finished, N failed, ...`` and
    make the process exit non-zero when a job failed (``sweep.fail_on_error=true``)."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from nlpcompress.tracking.sweep_status import summarise

        counts, line = summarise(config.hydra.sweep.dir)
        print(line, file=sys.stderr)
        fail_on_error = OmegaConf.select(config, "sweep.fail_on_error", default=True)
        global _SWEEP_EXIT
        if fail_on_error and (counts["failed"] or counts["killed"]):
            _SWEEP_EXIT = 1


_SWEEP_EXIT = 0


def _print_summary(metrics: dict[str, float], tracker) -> None:
    from nlpcompress.tracking.conventions import ui_hint

    lines = [f"  {k:38s} {metrics[k]:.4g}" for k in names.RUN_SUMMARY if k in metrics]
    print(
        f"\nMLflow run {tracker.run_id} ({tracker.tracking_uri}, experiment {tracker.experiment_name!r}):"
    )
    print("\n".join(lines))
    print(f"Open it: {ui_hint(tracker.tracking_uri, tracker.experiment_id, tracker.run_id)}")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_main(dcfg: DictConfig) -> float:
    return run_task(dcfg)


@contextlib.contextmanager
def _failed_overrides_exit_2():
    """Hydra's own "Could not override 'quant.bits'" (exit 1) becomes our one line, exit 2.

    Hydra composes before any job runs and reports a failed composition through
    ``hydra._internal.utils.run_and_report``, which prints it and exits 1. Wrapping that function
    for the duration of :func:`main` lets a failed override be refused like every other bad
    value (:func:`~nlpcompress.config.overrides.override_refusal`); other errors pass unchanged.
    """
    from hydra._internal import utils as hydra_utils
    from hydra.errors import ConfigCompositionException

    original = hydra_utils.run_and_report

    def run_and_report(func):
        def refusing():
            try:
                return func()
            except ConfigCompositionException as err:
                import nlpcompress.methods.registry  # noqa: F401  (registers the section schemas)
                from nlpcompress.config.overrides import override_refusal

                refusal = override_refusal(err, CONF_DIR)
                if refusal is None:
                    raise
                print(f"nlpcompress: {refusal}", file=sys.stderr)
                sys.exit(2)  # SystemExit passes through Hydra's `except Exception`

        return original(refusing)

    hydra_utils.run_and_report = run_and_report
    try:
        yield
    finally:
        hydra_utils.run_and_report = original


def main() -> None:
    """Console entry point ``nlpcompress``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with _failed_overrides_exit_2():
        _hydra_main()
    if _SWEEP_EXIT:
        sys.exit(_SWEEP_EXIT)
