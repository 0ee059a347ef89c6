"""The one protocol both backends implement: `local.Pipeline` here, `ray.RayPipeline` on a cluster.

The CLI, the daemon and the progress display use a pipeline only through it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from streamclip.contract.stats import PipelineStats
from streamclip.contract.types import Event


@runtime_checkable
class EventPipeline(Protocol):
    """What the CLI and the daemon need of a pipeline: `Pipeline` on one machine, `RayPipeline` on Ray."""

    async def submit(self, path: str | os.PathLike[str], *, rel: str | None = None, follow: bool = False) -> None: ...

    def close_input(self) -> None: ...

    def stop_live(self) -> None:
        """End every live source (stdin, network stream) as if its sender had stopped."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    def statistics(self) -> PipelineStats: ...
