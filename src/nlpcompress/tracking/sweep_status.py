"""What each job of a sweep ended as, so that the sweep can end with one summary line.

Every job writes ``job_status.json`` into its own Hydra output folder; after the last job,
:func:`summarise` reads them from the sweep folder (the jobs may have run in other
processes: joblib, Ray, submitit).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

STATUS_FILE = "job_status.json"
ORDER = ("finished", "failed", "killed", "skipped")


def write_status(job_dir: str | Path, status: str, run_id: str | None = None) -> None:
    """Record this job's outcome (``finished``, ``failed``, ``killed`` or ``skipped``)."""
    folder = Path(job_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATUS_FILE).write_text(json.dumps({"status": status, "run_id": run_id}))


def summarise(sweep_dir: str | Path) -> tuple[Counter, str]:
    """Counts by status over the sweep's jobs and the line that says them, e.g.
    ``sweep: 3 finished, 1 failed, 0 killed, 0 skipped``."""
    counts: Counter = Counter(dict.fromkeys(ORDER, 0))
    for path in sorted(Path(sweep_dir).glob(f"*/{STATUS_FILE}")):
        try:
            counts[json.loads(path.read_text())["status"]] += 1
        except (OSError, ValueError, KeyError):
            counts["failed"] += 1
    line = "sweep: " + ", ".join(f"{counts[k]} {k}" for k in ORDER)
    return counts, line
