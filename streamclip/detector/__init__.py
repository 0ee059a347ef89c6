"""The detector stack: TransNetV2 from frames to transition probabilities.

- `network`: the weights, the reference windowing (WindowBuilder) and the torch forward passes;
- `engines`: what runs the network on windows (torch, OpenVINO), `shot_probabilities`;
- `redecision`: int8 / bf16 windows near the threshold recomputed in fp32 (the reference's decisions);
- `models`: prepared OpenVINO models cached on disk, made once per machine;
- `export`: ONNX export, conversion and int8 quantisation (only while preparing a model);
- `calibration`: synthetic calibration windows for int8;
- `commands`: the `streamclip models` command;
- `cuda`: the GPU path's input: decoded surfaces (DLPack) scaled to 48x27 and windowed on the GPU.

torch is imported only inside `network`, `export` and `cuda`, and only inside functions.
"""
