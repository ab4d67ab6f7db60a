"""Errors whose `reason` is a short sentence shown to hosts as is."""

from __future__ import annotations


class ReasonedError(Exception):
    """A failure hosts are told about in its own words: a job fails with its reason as the
    job's message (app.core.jobs), a file is unplayable for its reason (app.library.errors)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
