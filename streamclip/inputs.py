"""Turning command-line inputs (files and folders) into the list of videos to split."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from streamclip.contract.identity import unique_rels

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .ogv .mxf".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class VideoInput:
    path: Path
    rel: str  # name of its record under OUT/processed_videos/, unique among the inputs


@dataclass(frozen=True)
class Inputs:
    videos: list[VideoInput]
    missing: list[VideoInput]  # given paths that do not exist: kept, so each fails with its reason
    skipped: list[Path] = field(default_factory=list)  # streamclip output folders found inside the inputs


def is_video_name(path: Path) -> bool:
    """A visible file with a video extension (hidden and partial files are skipped)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def is_streamclip_output(folder: Path) -> bool:
    """A folder streamclip wrote: its records and clips or metas, or a daemon's ledger folder."""
    if (folder / ".streamclip").is_dir():
        return True
    return (folder / "processed_videos").is_dir() and ((folder / "clips").is_dir() or (folder / "metas").is_dir())


def expand_inputs(inputs: list[str], *, exclude: Iterable[Path] = ()) -> Inputs:
    """Files as given (any extension) and folders searched recursively by video extension.

    Folders that are streamclip outputs (or in `exclude`, e.g. this run's output) are not
    searched: their clips are not sources. Record names are made unique among the videos.
    """
    excluded = {Path(os.path.abspath(p)) for p in exclude}
    found: list[VideoInput] = []
    missing: list[VideoInput] = []
    skipped: list[Path] = []
    seen: set[Path] = set()
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            walked, left_out = _walk(path, excluded)
            skipped += left_out
            videos = [VideoInput(p, str(p.relative_to(path))) for p in walked]
        elif path.exists():
            videos = [VideoInput(path, path.name)]
        else:
            missing.append(VideoInput(path, path.name))
            continue
        for video in videos:
            if video.path.resolve() not in seen:
                seen.add(video.path.resolve())
                found.append(video)
    everything = [*found, *missing]
    rels = unique_rels([v.path for v in everything], [v.rel for v in everything])
    named = [VideoInput(v.path, rel) for v, rel in zip(everything, rels, strict=True)]
    return Inputs(videos=named[: len(found)], missing=named[len(found) :], skipped=skipped)


def _walk(root: Path, excluded: set[Path]) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    skipped: list[Path] = []
    for folder, dirs, files in os.walk(root):
        kept = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            sub = Path(folder) / name
            if Path(os.path.abspath(sub)) in excluded or is_streamclip_output(sub):
                skipped.append(sub)
            else:
                kept.append(name)
        dirs[:] = kept
        found += [Path(folder) / name for name in sorted(files) if is_video_name(Path(name))]
    return found, skipped
