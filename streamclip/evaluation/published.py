"""AutoShot's published F1 on its SHOT test set, reproduced from the authors' own saved files.

The AutoShot repository ships the ground truth of its 200 test videos and its network's per-frame
probabilities on them (pickles of numpy arrays). Scoring those with `streamclip.evaluation.scoring`
must give the F1 the authors report: that checks the scoring, not a model. The files are read where
they lie (never copied into a project) by an unpickler that builds numpy arrays and nothing else.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamclip.evaluation.scoring import Counts, Shots, score, shots_from_probabilities

TRUTH_FILE = "gt_scenes_dict_baseline_v2.pickle"
PREDICTIONS_FILE = "supernet_best_f1.pickle"
TOLERANCE = 2  # frames, the authors' protocol

# threshold -> (F1, true positives, false positives, false negatives) as published
PUBLISHED: dict[float, tuple[float, int, int, int]] = {
    0.296: (0.8405, 2098, 378, 418),
    0.4: (0.8350, 2030, 316, 486),
    0.5: (0.8295, 1971, 265, 545),
}

# What a pickled dict of numpy arrays needs, across numpy 1.x and 2.x module names.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: only numpy arrays are expected in this file")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """A pickled `{key: numpy array}` dict, refusing any other kind of object."""
    with path.open("rb") as file:
        loaded = _NumpyOnlyUnpickler(file).load()
    if not isinstance(loaded, dict) or not all(isinstance(v, np.ndarray) for v in loaded.values()):
        raise ValueError(f"{path}: expected a dict of numpy arrays")
    return {str(key): value for key, value in loaded.items()}


@dataclass(frozen=True)
class Check:
    threshold: float
    counts: Counts
    published_f1: float
    published_counts: Counts

    @property
    def reproduced(self) -> bool:
        return self.counts == self.published_counts and round(self.counts.f1, 4) == self.published_f1


def check_published(folder: Path) -> list[Check]:
    """Score AutoShot's saved predictions against its ground truth at each published threshold."""
    truth = {key: shots.astype(np.int64) for key, shots in load_arrays(folder / TRUTH_FILE).items()}
    predictions = load_arrays(folder / PREDICTIONS_FILE)
    if truth.keys() != predictions.keys():
        raise ValueError(f"{folder}: the ground truth and the predictions cover different videos")
    checks = []
    for threshold, (f1, *counts) in PUBLISHED.items():
        total = sum((_score_video(truth[k], predictions[k], threshold) for k in truth), Counts())
        checks.append(Check(threshold, total, f1, Counts(*counts)))
    return checks


def _score_video(truth: Shots, probabilities: np.ndarray, threshold: float) -> Counts:
    return score(truth, shots_from_probabilities(probabilities, threshold), TOLERANCE)
