"""The data model and NeMo Curator's rules: pure values and functions, no I/O, no ffmpeg, no torch.

- `types`: the values that cross channels and files (VideoMetadata, Span, Clip, ClipStats, events);
- `rules`: scenes → clip spans, fixed stride, clip ids, frame sampling (the semantic contract);
- `identity`: the names of video records under OUT/processed_videos/;
- `decisions`: what a split decided and why, per video (OUT/decisions/);
- `stats`: the typed statistics every actor reports.
"""
