"""Counts gathered over a set of videos and printed as one Markdown table (the benchmark's and `streamclip eval`'s)."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamclip.evaluation.scoring import TOLERANCES, Counts, Shots
from streamclip.evaluation.truth import ALL, IN_SHOT, KINDS, GroundTruth, score_by_kind

HEADER = [
    "| detector | transitions | P @0 | R @0 | F1 @0 | P @±2 | R @±2 | F1 @±2 | CPU s / min of video |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]


@dataclass
class Tally:
    """One detector's counts per (transition kind, tolerance), summed over the videos it was scored on."""

    name: str
    counts: dict[tuple[str, int], Counts] = field(default_factory=dict)
    cpu_s: float = 0.0
    minutes: float = 0.0  # of video scored

    def add(self, truth: GroundTruth, predicted: Shots) -> None:
        for tolerance in TOLERANCES:
            for kind, counts in score_by_kind(truth, predicted, tolerance).items():
                self.counts[kind, tolerance] = self.counts.get((kind, tolerance), Counts()) + counts

    def total(self, tolerance: int) -> Counts:
        return self.counts.get((ALL, tolerance), Counts())


def markdown_table(tallies: list[Tally]) -> str:
    """A row for all transitions, one per kind present, and the in-shot false alarms, per detector."""
    lines = list(HEADER)
    for tally in tallies:
        for kind in (ALL, *KINDS):
            if (kind, 0) in tally.counts:
                lines.append(_row(tally, kind))
        in_shot = [tally.counts.get((IN_SHOT, t), Counts()).false_positives for t in TOLERANCES]
        lines.append(f"| | in-shot false alarms | {in_shot[0]} | | | {in_shot[1]} | | | |")
    return "\n".join(lines)


def _row(tally: Tally, kind: str) -> str:
    cells = []
    for tolerance in TOLERANCES:
        c = tally.counts.get((kind, tolerance), Counts())
        cells += [f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}"]
    expected = tally.counts[kind, 0].true_positives + tally.counts[kind, 0].false_negatives
    first = kind == ALL
    name = f"**{tally.name}**" if first else ""
    cpu = f"{tally.cpu_s / tally.minutes:.1f}" if first and tally.minutes > 0 and tally.cpu_s > 0 else ""
    return f"| {name} | {kind} ({expected}) | {' | '.join(cells)} | {cpu} |"
