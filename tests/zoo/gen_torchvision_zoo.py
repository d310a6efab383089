#!/usr/bin/env python3
"""Exports torchvision's architectures (Debian python3-torchvision, random weights: nothing is downloaded)
with PyTorch's ONNX exporter, in ONNX backend-test layout (OUT/zoo/<name>/model.onnx +
test_data_set_0/{input,output}_N.pb), PyTorch's outputs as the reference. graft has never been tuned on
these: they stand in for the held-out CNN, detection and segmentation models users bring.

    /usr/bin/python3 tests/zoo/gen_torchvision_zoo.py OUT      (exit 77 when torchvision is missing)
"""
import os
import sys

import numpy as np

try:
    import torch
    import torchvision
    from onnx import numpy_helper
except ImportError as e:
    print(f"gen_torchvision_zoo: {e}; skipping", file=sys.stderr)
    sys.exit(77)

import onnx  # noqa: E402


def save_case(out, name, model, inputs, opset, input_names, output_names, flatten=None):
    d = os.path.join(out, "zoo", name)
    data = os.path.join(d, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    model.eval()
    with torch.no_grad():
        result = model(*inputs)
        torch.onnx.export(model, inputs, os.path.join(d, "model.onnx"), opset_version=opset,
                          input_names=input_names, output_names=output_names, do_constant_folding=True)
    outs = flatten(result) if flatten else ([result] if torch.is_tensor(result) else list(result))
    flat_inputs = [x for t in inputs for x in (t if isinstance(t, list) else [t])]
    for i, t in enumerate(flat_inputs):
        with open(os.path.join(data, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(t.numpy(), input_names[i]).SerializeToString())
    for i, t in enumerate(outs):
        with open(os.path.join(data, f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(t.detach().numpy(), output_names[i]).SerializeToString())
    onnx.checker.check_model(onnx.load(os.path.join(d, "model.onnx")))


def ort_reference(case_dir, names):
    """ONNX Runtime's outputs for a case (node + npm onnxruntime-node from bench/ort), or None when it is
    not installed. Used where PyTorch's eager outputs are not a fair reference for the exported graph."""
    import json
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    runner = os.path.join(root, "bench", "ort", "run_model.js")
    if not os.path.isdir(os.path.join(root, "bench", "ort", "node_modules", "onnxruntime-node")):
        return None
    data = os.path.join(case_dir, "test_data_set_0")
    feeds = {}
    for i, name in enumerate(names):
        t = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f"input_{i}.pb")))
        feeds[name] = {"dims": list(t.shape), "data": t.ravel().tolist()}
    with open(os.path.join(case_dir, "ort_inputs.json"), "w") as f:
        json.dump(feeds, f)
    r = subprocess.run(["node", runner, os.path.join(case_dir, "model.onnx"), "@" + os.path.join(case_dir, "ort_inputs.json")],
                       capture_output=True, text=True)
    os.remove(os.path.join(case_dir, "ort_inputs.json"))
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def randomize_bn(model):
    # Non-trivial BatchNorm statistics, so folding mistakes show.
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "torchvision-zoo"
    torch.manual_seed(0)
    m = torchvision.models
    image = torch.randn(1, 3, 96, 96)
    classifiers = {
        "tv_mobilenet_v3_small": (m.mobilenet_v3_small, 13),
        "tv_efficientnet_b0": (m.efficientnet_b0, 13),
        "tv_shufflenet_v2": (m.shufflenet_v2_x0_5, 13),
        "tv_squeezenet": (m.squeezenet1_1, 11),
        "tv_densenet121": (m.densenet121, 13),
        "tv_regnet_y_400mf": (m.regnet_y_400mf, 13),
        "tv_convnext_tiny": (m.convnext_tiny, 13),
        "tv_googlenet": (lambda **k: m.googlenet(aux_logits=False, init_weights=True, **k), 13),
        "tv_resnext50": (lambda **k: m.resnext50_32x4d(**k), 17),
        "tv_mnasnet": (m.mnasnet0_5, 13),
    }
    for name, (ctor, opset) in classifiers.items():
        model = randomize_bn(ctor(weights=None))
        save_case(out, name, model, (image,), opset, ["image"], ["logits"])
    # Swin (window attention with torch.roll) at its native window geometry.
    save_case(out, "tv_swin_t", m.swin_t(weights=None), (torch.randn(1, 3, 224, 224),), 13, ["image"], ["logits"])
    # Segmentation: dict outputs, bilinear upsampling back to the input size.
    seg = randomize_bn(torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None))
    save_case(out, "tv_lraspp", seg, (torch.randn(1, 3, 128, 128),), 13, ["image"], ["out"],
              flatten=lambda r: [r["out"]])
    # Video: 3-d convolutions.
    r3d = randomize_bn(torchvision.models.video.r3d_18(weights=None))
    save_case(out, "tv_r3d_18", r3d, (torch.randn(1, 3, 4, 56, 56),), 13, ["clip"], ["logits"])
    # Detection: NonMaxSuppression, RoiAlign, data-dependent shapes (staged execution). With random weights
    # the scores nearly tie, and the exported graph ranks ties differently from eager PyTorch, so the
    # reference here is ONNX Runtime's run of the same file (the case is left out without it).
    det = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0)
    det.eval()
    img = torch.rand(3, 160, 160)
    names = ["boxes", "labels", "scores"]
    save_case(out, "tv_fasterrcnn_mobilenet", det, ([img],), 13, ["image"], names,
              flatten=lambda r: [r[0]["boxes"], r[0]["labels"], r[0]["scores"]])
    case = os.path.join(out, "zoo", "tv_fasterrcnn_mobilenet")
    ref = ort_reference(case, ["image"])
    if ref is None:
        import shutil
        shutil.rmtree(case)
        print("gen_torchvision_zoo: no ONNX Runtime (bench/ort); detection case left out", file=sys.stderr)
    else:
        dtypes = {"boxes": np.float32, "labels": np.int64, "scores": np.float32}
        for i, n in enumerate(names):
            a = np.array(ref[n]["data"], dtype=dtypes[n]).reshape(ref[n]["dims"])
            with open(os.path.join(case, "test_data_set_0", f"output_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())
    print("gen_torchvision_zoo: wrote", os.path.join(out, "zoo"))


if __name__ == "__main__":
    main()
