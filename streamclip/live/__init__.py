"""Sources that are still being written or sent.

Live sources, read once: standard input ("-") and network streams (srt, rtmp, rtsp, udp, tcp,
HLS playlists over http(s)). `session.LiveSession` reads the source into a spool of short MPEG-TS
segments on local disk (`spool.Spool`); the decoder decodes the spool as it grows (`decode`), the
transcoder cuts clips from it (`cutting`), and segments are deleted once no clip can need them.
`argv` builds the ffmpeg commands. Complete local files never come here.

Growing local files (`follow`) are read in place as they grow (ffmpeg's `-follow 1`): no spool.
"""

from streamclip.live.session import LIVE_KINDS, LiveSession, is_live

__all__ = ["LIVE_KINDS", "LiveSession", "is_live"]
