"""Background jobs with progress: slow work a host starts and then watches (upload analysis,
later speech rendering and imports).

Jobs live in memory only: the work runs in a small thread pool, the registry remembers every
unfinished job and the last `keep_finished` finished ones, so a client polling a job it just
started always finds it.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.core.errors import ReasonedError
from app.models import utcnow

log = logging.getLogger(__name__)


class JobState(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job; the registry hands out copies, never its own records."""

    id: str
    kind: str
    state: JobState = JobState.queued
    progress: float = 0.0  # 0..1
    message: str = "queued"
    result: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.done, JobState.failed)


class JobContext:
    """What the work function uses to report how far it got and what it produced."""

    def __init__(self, registry: JobRegistry, job_id: str) -> None:
        self._registry = registry
        self._job_id = job_id

    def progress(self, fraction: float, message: str | None = None) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        changes: dict[str, Any] = {"progress": fraction}
        if message is not None:
            changes["message"] = message
        self._registry._update(self._job_id, **changes)

    def set_result(self, **values: Any) -> None:
        self._registry._update_result(self._job_id, values)


# The work returns its final message ("ready", "imported 12 tracks", ...).
Work = Callable[[JobContext], str]


class JobRegistry:
    def __init__(self, keep_finished: int = 100, workers: int = 2) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._keep_finished = keep_finished
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self.finished_total: Counter[tuple[str, str]] = Counter()  # by (kind, done | failed)

    def counts(self) -> Counter[tuple[str, str]]:
        """Unfinished jobs by (kind, queued | running)."""
        with self._lock:
            return Counter((job.kind, job.state.value) for job in self._jobs.values()
                           if not job.finished)  # fmt: skip

    def submit(self, kind: str, work: Work) -> Job:
        job = Job(id=uuid.uuid4().hex, kind=kind)
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job.id, work)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _run(self, job_id: str, work: Work) -> None:
        self._update(job_id, state=JobState.running, message="running")
        try:
            message = work(JobContext(self, job_id))
        except ReasonedError as exc:
            self._finish(job_id, JobState.failed, exc.reason)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self._finish(job_id, JobState.failed, f"{type(exc).__name__}: {exc}")
        else:
            self._finish(job_id, JobState.done, message, progress=1.0)

    def _finish(self, job_id: str, state: JobState, message: str, **changes: Any) -> None:
        self._update(job_id, state=state, message=message, finished_at=utcnow(), **changes)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self.finished_total[job.kind, state.value] += 1
            finished = [job.id for job in self._jobs.values() if job.finished]
            for old in finished[: max(0, len(finished) - self._keep_finished)]:
                del self._jobs[old]

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, **changes)

    def _update_result(self, job_id: str, values: dict[str, Any]) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, result={**job.result, **values})
