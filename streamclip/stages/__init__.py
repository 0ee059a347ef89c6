"""Per-clip curation stages after the split: the interface, the runner, loading by import path."""

from streamclip.stages.interface import Stage, StageFactory, StageInput, StageOutput

__all__ = ["Stage", "StageFactory", "StageInput", "StageOutput"]
