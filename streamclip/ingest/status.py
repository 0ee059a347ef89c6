"""`streamclip status`: the ledger's summary and the files that failed, with their reasons."""

from __future__ import annotations

import datetime

from streamclip.ingest.ledger import Ledger, SourceRecord


def status_report(ledger: Ledger, *, limit: int = 100) -> str:
    """Sources and clips per state, then every failed or quarantined source (the latest `limit`)."""
    counts = ledger.summary()
    lines = [f"ledger {ledger.path}", f"{'state':<12} {'sources':>8} {'clips':>8}"]
    lines += [f"{c.state:<12} {c.sources:>8} {c.clips:>8}" for c in counts]
    lines.append(f"{'total':<12} {sum(c.sources for c in counts):>8} {sum(c.clips for c in counts):>8}")
    problems = ledger.records("failed", "quarantined")
    if problems:
        shown = problems[-limit:]
        more = f" (latest {len(shown)} of {len(problems)})" if len(shown) < len(problems) else ""
        lines += ["", f"failed or quarantined{more}:"]
        lines += [_problem_line(record) for record in shown]
    return "\n".join(lines) + "\n"


def _problem_line(record: SourceRecord) -> str:
    when = datetime.datetime.fromtimestamp(record.updated_at).isoformat(sep=" ", timespec="seconds")
    note = f" ({record.note})" if record.note else ""
    kind = f" [{record.kind}]" if record.kind else ""
    return f"  {record.state.upper()} {record.path}{kind}: {record.error or 'no reason recorded'}{note} [{when}]"
