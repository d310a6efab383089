"""Writes torchvision's ResNet-50 (random weights, seeded) as ONNX with a dynamic batch axis, calibration input
sets for `graft quantize --static` and a timing input, for bench/qdq_resnet50_vs_ort.sh. Needs Debian's
PyTorch + torchvision (/usr/bin/python3).
    /usr/bin/python3 bench/gen_resnet50.py OUT_DIR [CALIBRATION_SETS]
Writes OUT_DIR/resnet50.onnx, OUT_DIR/calibration/set_K/input.npy ([1, 3, 224, 224] each) and
OUT_DIR/input_b{1,2}.npy. Nothing here is committed: the model is generated on the machine that times it."""
import os
import sys

import numpy as np
import torch
import torchvision

out = sys.argv[1]
sets = int(sys.argv[2]) if len(sys.argv) > 2 else 4
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
model = torchvision.models.resnet50(weights=None).eval()
# Random-init BatchNorm statistics are the identity; give them spread so the activations vary as in a trained net.
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.0)
x = torch.randn(1, 3, 224, 224)
with torch.no_grad():
    torch.onnx.export(model, (x,), os.path.join(out, "resnet50.onnx"), opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
rng = np.random.default_rng(1)
for k in range(sets):
    d = os.path.join(out, "calibration", f"set_{k}")
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
for b in (1, 2):
    np.save(os.path.join(out, f"input_b{b}.npy"), rng.standard_normal((b, 3, 224, 224)).astype(np.float32))
