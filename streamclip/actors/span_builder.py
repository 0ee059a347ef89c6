"""SpanBuilder: per-video transition probabilities in, clip spans out, each the moment it is final.

`SceneSpanTracker` is the incremental form of `rules.scene_spans`: fed a transition mask in any
chunking it yields the same spans, in the same order, as soon as the frames that decide each one
are known (a `max_len` piece of a long scene leaves when its last frame is seen, not at scene end).

A live session's decisions are handed over in parts as it goes (`SceneDecisions.split_at`, written
by `write_part`), so what the span builder holds for it is bounded by a part, not by the session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from streamclip.actors.messages import ProbChunk, SpanItem, VideoEnd, VideoJob
from streamclip.config import SpansConfig
from streamclip.contract.decisions import SceneDecisions
from streamclip.contract.rules import SceneRules
from streamclip.contract.types import Span
from streamclip.runtime.actor import Actor
from streamclip.runtime.channel import Channel

FrameSpan = tuple[int, int]
PartWriter = Callable[[VideoJob, SceneDecisions], None]  # a live session's closed part of its decisions

log = logging.getLogger(__name__)


class SceneSpanTracker:
    """Streaming `scene_spans`: `push` mask chunks in frame order, then `finish` once.

    With Curator's scene edges (the default, `rules._scenes`) a video's last frame is in no scene
    once it has a transition, so a piece ending at frame `f` is final when frame `f` arrives (one
    frame later than with `scene_edges="runs"`), and `finish` closes the open scene a frame early.
    Before the video's first scene boundary, spans are held while they may yet be no clip: without
    `entire_scene_as_clip` (the video may have no transition), or after a transition at frame 0
    (Curator: if no other comes, the whole video, that transition included, is the one scene).
    """

    def __init__(self, rules: SceneRules) -> None:
        self.rules = rules
        self.position = 0  # frames seen
        self.emitted = 0
        self._curator = rules.scene_edges == "curator"
        self._scene_start: int | None = None  # start of the open scene (None inside a transition)
        self._piece_start: int | None = 0  # the open scene's unfinished part (None: nothing left)
        self._scene_seen = False  # a non-transition frame has been seen
        self._leading = False  # frame 0 is a transition
        self._seen_boundary = False  # `rules.has_scene_boundary` of the frames seen
        self._held: list[FrameSpan] = []  # waiting to learn that they are clips

    @property
    def done(self) -> bool:
        """The clip limit is reached: nothing more will be emitted."""
        return 0 < self.rules.limit_clips <= self.emitted

    def push(self, transitions: npt.NDArray[np.bool_] | Sequence[bool]) -> list[FrameSpan]:
        out: list[FrameSpan] = []
        for is_transition in np.asarray(transitions, dtype=bool).tolist():
            if self._curator:
                out += self._piece_completed()  # this frame exists: the piece before it is not the video's end
            out += self._transition() if is_transition else self._scene_frame()
            self.position += 1
            if not self._curator:
                out += self._piece_completed()
        return self._limit(out)

    def finish(self) -> list[FrameSpan]:
        """The video ended: close the open scene (Curator: before the last frame), or make the
        whole video the one scene, or drop what was held for want of a transition."""
        if self._seen_boundary:
            out = self._close_scene(self.position - 1 if self._curator else self.position)
        elif self._leading and self.rules.entire_scene_as_clip:
            self._held = []
            out = self.rules.pieces(0, self.position)
        else:
            out = self._close_scene(self.position)
        return self._limit(out)

    @property
    def earliest_future_start(self) -> int:
        """No span emitted from now on starts before this frame (a live source's spool is deleted up to it)."""
        if self._leading and self.rules.entire_scene_as_clip and not self._seen_boundary:
            return 0  # the whole video may yet be the one scene
        start = self.position
        if self._scene_start is not None and self._piece_start is not None:
            start = self._piece_start
        return min([start, *(held_start for held_start, _ in self._held)])

    def part_boundary(self) -> tuple[int, bool, bool] | None:
        """Where a live session's decisions may be cut into parts now: a frame before which every
        span is emitted and after which none starts earlier, with whether it lies inside a scene
        and whether that scene's first piece was kept already (truncate). None while in a
        transition, while spans are held or may yet be (before the first scene boundary: without
        `entire_scene_as_clip`, or after a transition at frame 0), and (Curator's edges) while the
        frame there is not seen yet: the tracker decides a frame one frame late, and the session's
        last frame, in no scene, must lie in the part that holds the session's end."""
        if self._held or self._scene_start is None:
            return None
        if not self._seen_boundary and (self._leading or not self.rules.entire_scene_as_clip):
            return None
        if self._piece_start is None:  # truncate: the scene's first piece is out, the rest dropped
            frame, in_scene, truncated = self.position - (1 if self._curator else 0), True, True
        else:
            frame, in_scene, truncated = self._piece_start, self._piece_start > self._scene_start, False
        if self._curator and frame >= self.position:
            return None
        return frame, in_scene, truncated

    def cut_here(self) -> list[FrameSpan]:
        """Close the open scene at the current frame, as if a transition were here (a live source's
        spool limit); the scene goes on as a new one from this frame. The cut counts as a scene
        boundary: what was held is released, and the video is no longer one whole scene."""
        was_open = self._scene_start is not None
        out = self._close_scene(self.position) + self._boundary()
        if was_open:
            self._scene_start = self._piece_start = self.position
        return self._limit(out)

    def _transition(self) -> list[FrameSpan]:
        self._leading |= self.position == 0
        out = self._close_scene(self.position)
        if self._curator and not self._scene_seen:
            return out  # a transition at frame 0 closes no scene
        return out + self._boundary()

    def _scene_frame(self) -> list[FrameSpan]:
        self._scene_seen = True
        if self._scene_start is None:
            self._scene_start = self._piece_start = self.position
        return []

    def _piece_completed(self) -> list[FrameSpan]:
        """A `max_len` piece of the open scene is final (its last frame, Curator: the one after, is seen)."""
        start, length = self._piece_start, self.rules.max_len
        if self._scene_start is None or start is None or length <= 0 or self.position - start != length:
            return []
        # truncate keeps only a scene's first piece; stride goes on with the next one
        self._piece_start = None if self.rules.mode == "truncate" else self.position
        return self._release(self.rules.pieces(start, start + length))

    def _close_scene(self, end: int) -> list[FrameSpan]:
        if self._scene_start is None:
            return []
        start, self._scene_start = self._piece_start, None
        if start is None or start >= end:
            return []
        return self._release(self.rules.pieces(start, end))

    def _boundary(self) -> list[FrameSpan]:
        if self._seen_boundary:
            return []
        self._seen_boundary = True
        held, self._held = self._held, []
        return held

    def _release(self, spans: list[FrameSpan]) -> list[FrameSpan]:
        # Before the first boundary a span is final only if the video as one whole scene gives it too.
        if self._seen_boundary or (self.rules.entire_scene_as_clip and not self._leading):
            return spans
        self._held += spans
        return []

    def _limit(self, spans: list[FrameSpan]) -> list[FrameSpan]:
        if self.rules.limit_clips > 0:
            spans = spans[: max(self.rules.limit_clips - self.emitted, 0)]
        self.emitted += len(spans)
        return spans


SpanBuilderIn = ProbChunk | VideoEnd
SpanBuilderOut = SpanItem | VideoEnd


class SpanBuilder(Actor[SpanBuilderIn, SpanBuilderOut]):
    name = "span_builder"

    def __init__(
        self,
        inbox: Channel[SpanBuilderIn],
        outbox: Channel[SpanBuilderOut],
        config: SpansConfig,
        threshold: float,
        *,
        part_s: float = 600.0,
        write_part: PartWriter | None = None,
    ) -> None:
        super().__init__(inbox, outbox)
        self.config = config
        self.threshold = threshold
        self.part_s = part_s  # a live session's decisions are closed in parts of about this much stream
        self.write_part = write_part  # blocking: run in a thread
        self._trackers: dict[int, SceneSpanTracker] = {}

    def _tracker(self, item: SpanBuilderIn) -> SceneSpanTracker:
        tracker = self._trackers.get(item.job.id)
        if tracker is None:
            rules = SceneRules.from_seconds(
                item.job.fps,
                min_length_s=self.config.min_length_s,
                max_length_s=self.config.max_length_s,
                max_length_mode=self.config.max_length_mode,
                crop_s=self.config.crop_s,
                entire_scene_as_clip=self.config.entire_scene_as_clip,
                limit_clips=self.config.limit_clips,
                scene_edges=self.config.scene_edges,
            )
            tracker = self._trackers[item.job.id] = SceneSpanTracker(rules)
            item.job.decisions = SceneDecisions(rules, self.threshold)
        return tracker

    async def on_item(self, item: SpanBuilderIn) -> None:
        if isinstance(item, ProbChunk):
            tracker = self._tracker(item)
            if tracker.position != item.first_frame:
                raise RuntimeError(f"probabilities out of order for {item.job.source}")
            if isinstance(item.job.decisions, SceneDecisions):
                item.job.decisions.add_probabilities(item.probabilities)
            await self._emit_spans(item, tracker.push(item.probabilities > self.threshold))
            if item.job.live is not None:
                await self._follow_live(item, tracker)
                await self._close_part(item.job, tracker)
            if tracker.done:
                item.job.stop_decoding.set()
            return
        ended = self._trackers.pop(item.job.id) if item.job.id in self._trackers else None
        # A live source that failed (timeout, a vanished sender) still closes its scene in progress.
        if ended is not None and (item.error is None or item.job.live is not None):
            await self._emit_spans(item, ended.finish())
        await self.emit(item)

    async def _follow_live(self, item: ProbChunk, tracker: SceneSpanTracker) -> None:
        """Let the spool delete what no future span needs; close the open scene at the spool limit."""
        live = item.job.live
        assert live is not None
        if live.cut_requested:
            live.cut_requested = False
            cut = tracker.cut_here()
            live.scenes_cut += 1 if cut else 0
            if isinstance(item.job.decisions, SceneDecisions):
                item.job.decisions.add_forced_cut(tracker.position)  # the tracker cut even if no span came of it
            await self._emit_spans(item, cut)
        live.keep_from = tracker.earliest_future_start
        live.release()

    async def _close_part(self, job: VideoJob, tracker: SceneSpanTracker) -> None:
        """Once a live session's decisions hold `part_s` of stream, hand the decided frames over as a
        part (written in a thread); a part that cannot be written is noted, the session goes on."""
        decisions = job.decisions
        if not isinstance(decisions, SceneDecisions):
            return
        if tracker.position - decisions.first_frame < self.part_s * job.fps:
            return
        boundary = tracker.part_boundary()
        if boundary is None or boundary[0] <= decisions.first_frame:
            return
        frame, in_scene, truncated = boundary
        part = decisions.split_at(frame, in_scene=in_scene, truncated=truncated)
        if self.write_part is None:
            return  # no output: nothing is written, and nothing is kept either
        try:
            await asyncio.to_thread(self.write_part, job, part)
        except OSError as exc:
            log.warning("%s: decisions of frames %d-%d not written: %s", job.source, part.first_frame, frame, exc)
            job.errors["decisions"] = f"a part of the decisions could not be written: {exc}"

    async def _emit_spans(self, item: SpanBuilderIn, spans: list[FrameSpan]) -> None:
        job = item.job
        for start, end in spans:
            if isinstance(job.decisions, SceneDecisions):
                job.decisions.add_span(start, end)
            span = Span.from_frames(start, end, job.fps)
            if job.live is not None:
                job.live.pin(span)  # its spool segments stay until the transcoder is done with it
            await self.emit(SpanItem(job, job.spans_made, span))
            job.spans_made += 1
