"""The ffmpeg layer: the one place that starts ffmpeg and ffprobe, and everything that decides how.

- `children`: binaries, runs with time limits, streaming children, kill on cancel;
- `argv`: pure argv builders for every command streamclip runs;
- `probe`: ffprobe JSON → VideoMetadata, with a reason a person can act on;
- `hardware`: GPU paths with a logged CPU fallback, the encoders ffmpeg has;
- `threads`: every thread count a pipeline uses.
"""
