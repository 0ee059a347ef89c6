"""NVENC: which NVIDIA GPUs can encode clips with ffmpeg's `h264_nvenc`, and how many at once.

The transcoder runs one ffmpeg per clip; with NVENC each is one encode session on the GPU. How
many sessions a GPU accepts depends on its product line (NVIDIA's "Video Encode and Decode GPU
Support Matrix" and its driver release notes):

| GPUs (name as the driver reports it)                 | NVENC | concurrent sessions                      |
|------------------------------------------------------|-------|------------------------------------------|
| GeForce, TITAN (consumer)                            | yes   | per system: 3 (driver < R530), 5 (R530), |
|                                                      |       | 8 (R551 and later)                       |
| Quadro / RTX professional, T4, A2/A10/A16/A40, L4/L40 | yes  | no cap (the engines' throughput limits)  |
| A100, A30, A800, H100, H800, H200, GH200 (compute)   | no    | - (NVDEC decodes; clips use libx264)     |

A GPU without NVENC encodes clips with libx264 on the CPU (one warning); its NVDEC still decodes
(`-hwaccel cuda`, the `pynvc` backend). A name this table does not know is decided by a test
encode of one small frame (`probe_encode_argv`), which is also what catches a driver or ffmpeg
build without NVENC support on a GPU that has the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamclip.ffmpeg.argv import ffmpeg_base

# Data-centre compute GPUs without an NVENC engine (NeMo Curator's notes say the same of A100 and H100).
NO_NVENC = ("A100", "A30", "A800", "H100", "H800", "H200", "GH200")
CONSUMER = ("GeForce", "TITAN")
PROFESSIONAL = ("Quadro", "RTX", "Tesla", "T4", "A2", "A10", "A10G", "A16", "A40", "L4", "L40", "L40S")
# (first driver major version, concurrent NVENC sessions per system) on consumer cards, newest first.
CONSUMER_SESSION_CAPS = ((551, 8), (530, 5), (0, 3))


@dataclass(frozen=True)
class NvencSupport:
    """What one GPU model means for NVENC: does it encode, at most how many sessions, and why."""

    encodes: bool | None  # None: the table does not know this model (a test encode decides)
    max_sessions: int | None  # None: no cap
    reason: str


def nvenc_support(gpu_name: str, driver_version: str = "") -> NvencSupport:
    """The table above for one GPU, as `nvidia-smi --query-gpu=name,driver_version` names it."""
    words = set(gpu_name.replace("-", " ").split())
    if words & set(NO_NVENC):
        return NvencSupport(False, 0, f"{gpu_name} has no NVENC engine (NVDEC decode only)")
    if any(brand.lower() in gpu_name.lower() for brand in CONSUMER):
        cap = consumer_session_cap(driver_version)
        return NvencSupport(True, cap, f"{gpu_name} is a consumer GPU: the driver allows {cap} NVENC sessions")
    if words & set(PROFESSIONAL):
        return NvencSupport(True, None, f"{gpu_name}: NVENC without a session cap")
    return NvencSupport(None, None, f"{gpu_name} is not in the NVENC table: a test encode decides")


def consumer_session_cap(driver_version: str) -> int:
    """Sessions a consumer GPU's driver allows; an unreadable version counts as the oldest (3)."""
    try:
        major = int(driver_version.split(".")[0])
    except ValueError:
        major = 0
    return next(cap for first, cap in CONSUMER_SESSION_CAPS if major >= first)


def nvenc_pool_size(workers: int, gpus: list[NvencSupport]) -> tuple[int, str]:
    """Transcode workers with NVENC: `workers`, capped by the first GPU's session limit (clips are
    encoded on GPU 0, ffmpeg's default), and why."""
    cap = gpus[0].max_sessions if gpus else None
    if cap is None or workers <= cap:
        return workers, f"{workers} transcode workers (within the GPU's NVENC sessions)"
    return cap, f"transcode.workers = {workers} capped at {cap}: {gpus[0].reason}"


def probe_encode_argv() -> list[str]:
    """Encode one small generated frame with h264_nvenc and discard it: exit 0 iff NVENC works here
    (GPU, driver and ffmpeg build together). 256x144: NVENC's minimum frame size is larger than 48x27."""
    return [*ffmpeg_base(), "-f", "lavfi", "-i", "color=c=gray:s=256x144:r=1:d=1", "-frames:v", "1",
            "-c:v", "h264_nvenc", "-f", "null", "-"]  # fmt: skip


GPU_QUERY_ARGV = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]


def parse_gpu_query(output: str) -> list[tuple[str, str]]:
    """`nvidia-smi --query-gpu=name,driver_version --format=csv,noheader` -> [(name, driver), ...]."""
    gpus = []
    for line in output.splitlines():
        name, _, driver = line.rpartition(",")
        if name.strip():
            gpus.append((name.strip(), driver.strip()))
    return gpus
