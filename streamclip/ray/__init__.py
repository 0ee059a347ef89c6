"""streamclip on a Ray cluster: one streaming pipeline per Ray actor, clip events streamed back.

    async with streamclip.open_pipeline("default", "out", ray="local") as pipe:
        ...  # the same submit / close_input / async for as on one machine

Needs the `ray` extra (`pip install 'streamclip[ray]'`).
"""

from __future__ import annotations

try:
    import ray as _ray  # noqa: F401 - fail here, with the fix in the message
except ImportError as exc:  # pragma: no cover - the extra is installed by the project's set-up
    raise ImportError("streamclip.ray needs Ray: pip install 'streamclip[ray]'") from exc

from streamclip.config import RayConfig
from streamclip.ray.cluster import RayJoinError, connect
from streamclip.ray.driver import RayPipeline, RayUnavailable, open_ray_pipeline
from streamclip.ray.worker import PipelineWorker, WorkerBroken

__all__ = [
    "PipelineWorker",
    "RayConfig",
    "RayJoinError",
    "RayPipeline",
    "RayUnavailable",
    "WorkerBroken",
    "connect",
    "open_ray_pipeline",
]
