"""Turning command-line inputs (files and folders) into the list of videos to split."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .ogv .mxf".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class VideoInput:
    path: Path
    rel: str  # name of its record under OUT/processed_videos/


def is_video_name(path: Path) -> bool:
    """A visible file with a video extension (hidden and partial files are skipped)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def expand_inputs(inputs: list[str]) -> tuple[list[VideoInput], list[VideoInput]]:
    """Files as given (any extension) and folders searched recursively by video extension.

    Returns (videos, missing): a path that does not exist is kept, so it fails with its reason.
    """
    videos: list[VideoInput] = []
    missing: list[VideoInput] = []
    seen: set[Path] = set()
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = [VideoInput(p, str(p.relative_to(path))) for p in _walk(path)]
        elif path.exists():
            found = [VideoInput(path, path.name)]
        else:
            missing.append(VideoInput(path, path.name))
            continue
        for video in found:
            if video.path.resolve() not in seen:
                seen.add(video.path.resolve())
                videos.append(video)
    return videos, missing


def _walk(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / name for name in sorted(files) if is_video_name(Path(name))]
    return found
