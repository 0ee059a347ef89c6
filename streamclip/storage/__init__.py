"""Object storage in and out: S3-compatible and HTTP(S) sources, S3 outputs.

- `s3`: `s3://bucket/key` URLs, one client per bucket (obstore, the `[s3]` extra), credentials from
  the standard AWS chain, errors turned into `Reason` kinds with messages that carry no secret;
- `remote`: what the pipeline needs of a remote source (its size, a URL ffmpeg reads ranges from,
  the videos under an `s3://bucket/prefix/`);
- `listing`: a prefix's objects, also when it holds keys the client cannot address;
- `outputs`: where finished files go (a local folder, as before, or an S3 prefix).
"""
