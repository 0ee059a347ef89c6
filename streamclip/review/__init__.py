"""The review site: every video's shot probabilities, cuts, kept and dropped ranges, and clips.

`build_report` writes OUT/report/ from an output folder (`streamclip report OUT`); `LiveReport`
keeps it current in the daemon; `resolve_request` maps a URL path to the only files `serve` may
answer with.
"""

from streamclip.review.live import LiveReport
from streamclip.review.serving import resolve_request
from streamclip.review.site import REPORT_DIR, ReportResult, build_report

__all__ = ["REPORT_DIR", "LiveReport", "ReportResult", "build_report", "resolve_request"]
