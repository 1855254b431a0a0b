"""Training a label's classifier from the API: the ``tag_classifier`` partition is materialized
through the Dagster code location (as ``media-platform train`` does), in a background worker
thread, so that ``POST /labels/{label}/train`` answers 202 with the run id at once.

The run is recorded in the Dagster instance under the id chosen here, so the UI shows it and
``GET /runs/{run_id}`` reads its status there. Until the worker has created the run (the queue is
one run at a time), the launcher itself answers ``QUEUED``; a run that failed before Dagster
recorded it answers ``FAILURE`` with the error.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from media_platform.keys import printable

DONE_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
MAX_REMEMBERED = 1000


@dataclass
class Launch:
    """A training the launcher accepted: the label, and what it knows before Dagster does."""

    run_id: str
    label: str
    state: str = "QUEUED"  # QUEUED -> STARTED (the worker took it) -> DONE / FAILURE
    error: str | None = None


class TrainingLauncher:
    """One worker thread; each accepted label trains in turn, recorded in the instance."""

    def __init__(self, code: Any, open_instance: Any) -> None:
        self._code = code
        self._open_instance = open_instance
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="train-label")
        self._launches: dict[str, Launch] = {}
        self._lock = threading.Lock()
        self._instance: Any = None
        self._partitions: set[str] = set()

    def instance(self) -> Any:
        """One instance for the requests' reads and partition additions (opening one per
        request costs a few hundred milliseconds); the worker opens its own per run."""
        self._code()  # Dagster fully imported first, under the code location's lock
        with self._lock:
            if self._instance is None:
                self._instance = self._open_instance()
            return self._instance

    def add_partition(self, label: str) -> None:
        """Add the label's Dagster partition (so the UI can train it), once per process."""
        if label in self._partitions:
            return
        self._code().add_label_partition(self.instance(), label)
        with self._lock:
            self._partitions.add(label)

    def launch(self, label: str) -> str:
        """Queue the training of ``label``; returns the run id at once."""
        run_id = str(uuid.uuid4())
        with self._lock:
            self._launches[run_id] = Launch(run_id, label)
            while len(self._launches) > MAX_REMEMBERED:
                self._launches.pop(next(iter(self._launches)))
        self._pool.submit(self._train, run_id, label)
        return run_id

    def _train(self, run_id: str, label: str) -> None:
        launch = self._launches.get(run_id)
        if launch is not None:
            launch.state = "STARTED"
        try:
            code = self._code()  # before the instance: concurrent first imports of Dagster break
            with self._open_instance() as instance:
                code.train_label(instance, label, run_id)
            if launch is not None:
                launch.state = "DONE"
        except Exception as exc:  # noqa: BLE001 - recorded for GET /runs; the worker goes on
            if launch is not None:
                launch.state, launch.error = "FAILURE", f"{type(exc).__name__}: {printable(str(exc))}"

    def status(self, run_id: str) -> dict[str, Any] | None:
        """``{run_id, label, status, done, error, steps}`` from the instance, or from the
        launcher while the run is not recorded yet; None for an unknown run."""
        launch = self._launches.get(run_id)
        state = launch.state if launch is not None else None  # before the instance is read
        instance = self.instance()
        run = instance.get_run_by_id(run_id)
        if run is not None and run.job_name != self._code().TRAIN_JOB_NAME:
            run = None  # only training runs are reported here
        if run is not None:
            status = run.status.value
            out: dict[str, Any] = {"run_id": run_id, "label": run.tags.get("dagster/partition", launch.label if launch else None),
                                   "status": status, "done": status in DONE_STATUSES, "error": None}
            if status == "FAILURE":
                failures = [f"{step}: {printable(message)}" for step, kind, message
                            in self._code().run_step_events(instance, run_id) if kind == "STEP_FAILURE"]
                out["error"] = "; ".join(failures) or (launch.error if launch else None) or "the run failed"
            elif status not in DONE_STATUSES and state in ("DONE", "FAILURE"):
                # the worker finished but the run was left unfinished (it died mid-run)
                out.update(status="FAILURE", done=True, error=launch.error or "the run did not finish")
            return out
        if launch is None:
            return None
        if state in ("FAILURE", "DONE"):  # DONE without a recorded run: it never started
            launch.error = launch.error or "the run was not recorded in the Dagster instance"
            return {"run_id": run_id, "label": launch.label, "status": "FAILURE", "done": True, "error": launch.error}
        return {"run_id": run_id, "label": launch.label, "status": "QUEUED" if state == "QUEUED" else "STARTING",
                "done": False, "error": None}

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
