"""The detector stack: TransNetV2 (or AutoShot) from frames to transition probabilities.

- `catalog`: the models (transnetv2, autoshot), their default thresholds and precisions;
- `network`: the weights, the reference windowing (WindowBuilder) and the torch forward passes;
- `autoshot`: AutoShot's network and its torch engine; `autoshot_weights`: fetching its weights;
- `engines`: what runs the network on windows (torch, OpenVINO), `shot_probabilities`;
- `redecision`: int8 / bf16 windows near the threshold recomputed in fp32 (the reference's decisions);
- `models`: prepared OpenVINO models cached on disk, made once per machine;
- `export`: ONNX export, conversion and int8 quantisation (only while preparing a model);
- `calibration`: synthetic calibration windows for int8;
- `commands`: the `streamclip models` command;
- `cuda`: the GPU path's input: decoded surfaces (DLPack) scaled to 48x27 and windowed on the GPU.

torch is imported only by `network`, `export` and `cuda`, inside functions, and by `autoshot`,
which only the torch engine and the preparation import.
"""
