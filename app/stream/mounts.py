"""A mount the station serves: its spec (app/outputs.py, from RADIO_MOUNTS) and its hub."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.outputs import MountSpec

if TYPE_CHECKING:
    from app.stream.hub import StreamHub


@dataclass
class Mount:
    spec: MountSpec
    hub: StreamHub

    @property
    def path(self) -> str:
        return self.spec.path
