#!/usr/bin/env python3
"""Writes realistic-size models for bench/models_vs_ort.sh: each as OUT/<name>/model.onnx plus its inputs
as OUT/<name>/<input>.npy. The architectures are defined here from scratch with seeded random weights
(no download): a ResNet-18-shaped CNN at 224x224, a ResNet-50-shaped one (bottleneck blocks, batch 2), a
MobileNetV2-shaped CNN (depthwise convolutions), a speech encoder (1-d convolutions + bidirectional
LSTM) and a DBNet-style text detector at 384x512 (HardSwish, squeeze-excite, nearest upsampling,
ConvTranspose, BatchNormalization after ConvTranspose). Run with Debian's /usr/bin/python3 (torch)."""
import os
import sys

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("gen_bench_models: torch is not importable; skipping", file=sys.stderr)
    sys.exit(77)


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (self.down(x) if self.down is not None else x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Basic(cin, cout, stride), Basic(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + (self.down(x) if self.down is not None else x))


class ResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(blocks):
                layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class MobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        layers = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()]
        cin = 32
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(1280, 1000)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


class Speech(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(80, 256, 5, 2, 2), nn.GELU(), nn.Conv1d(256, 256, 5, 2, 2), nn.GELU())
        self.norm = nn.LayerNorm(256)
        self.lstm = nn.LSTM(256, 256, num_layers=2, bidirectional=True, batch_first=True)
        self.out = nn.Linear(512, 32)

    def forward(self, x):  # x [B, 80, T]
        y = self.norm(self.conv(x).transpose(1, 2))
        y, _ = self.lstm(y)
        return torch.log_softmax(self.out(y), -1)


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.reduce = nn.Conv2d(c, c // 4, 1)
        self.expand = nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * nn.functional.hardsigmoid(self.expand(torch.relu(self.reduce(s))))


class MobileV3Block(nn.Module):
    def __init__(self, cin, hidden, cout, k, stride, se, hswish):
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        layers = [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act(),
                  nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden), act()]
        if se:
            layers.append(SqueezeExcite(hidden))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class DBNet(nn.Module):
    """A DBNet-style text detector as OCR pipelines ship it: a MobileNetV3-shaped backbone (HardSwish,
    squeeze-excite with HardSigmoid), an FPN (1x1 lateral convolutions, nearest 2x upsampling + add, 3x3
    convolutions, the four levels upsampled to 1/4 and concatenated), and the probability head: 3x3 conv +
    BatchNorm + ReLU, two 2x2 stride-2 ConvTranspose (the first with BatchNorm + ReLU), Sigmoid."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        cfg = [  # cin, hidden, cout, k, stride, se, hswish; stages end at strides 4, 8, 16, 32
            [(16, 16, 16, 3, 1, False, False), (16, 64, 24, 3, 2, False, False), (24, 72, 24, 3, 1, False, False)],
            [(24, 72, 40, 5, 2, True, False), (40, 120, 40, 5, 1, True, False), (40, 120, 40, 5, 1, True, False)],
            [(40, 240, 80, 3, 2, False, True), (80, 200, 80, 3, 1, False, True), (80, 184, 80, 3, 1, False, True),
             (80, 480, 112, 3, 1, True, True), (112, 672, 112, 3, 1, True, True)],
            [(112, 672, 160, 5, 2, True, True), (160, 960, 160, 5, 1, True, True)]]
        self.stages = nn.ModuleList(nn.Sequential(*[MobileV3Block(*b) for b in stage]) for stage in cfg)
        chans, inner = [24, 40, 112, 160], 96
        self.lateral = nn.ModuleList(nn.Conv2d(c, inner, 1, bias=False) for c in chans)
        self.smooth = nn.ModuleList(nn.Conv2d(inner, inner // 4, 3, 1, 1, bias=False) for _ in chans)
        self.head = nn.Sequential(
            nn.Conv2d(inner, inner // 4, 3, 1, 1, bias=False), nn.BatchNorm2d(inner // 4), nn.ReLU(),
            nn.ConvTranspose2d(inner // 4, inner // 4, 2, 2), nn.BatchNorm2d(inner // 4), nn.ReLU(),
            nn.ConvTranspose2d(inner // 4, 1, 2, 2), nn.Sigmoid())

    def forward(self, x):
        feats, y = [], self.stem(x)
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(3, 0, -1):
            lat[i - 1] = lat[i - 1] + nn.functional.interpolate(lat[i], scale_factor=2.0, mode="nearest")
        outs = [nn.functional.interpolate(conv(l), scale_factor=2.0 ** i, mode="nearest") if i else conv(l)
                for i, (conv, l) in enumerate(zip(self.smooth, lat))]
        return self.head(torch.cat(outs[::-1], 1))


def write(out, name, model, inputs, input_names):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.eval()
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):  # (the ConvTranspose head's stay BatchNormalization nodes)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        torch.onnx.export(model, inputs, os.path.join(d, "model.onnx"), input_names=input_names,
                          output_names=["output"], opset_version=17)
    for n, t in zip(input_names, inputs):
        np.save(os.path.join(d, n + ".npy"), t.numpy())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench-models"
    torch.manual_seed(0)
    write(out, "resnet18_b1", ResNet18(), (torch.randn(1, 3, 224, 224),), ["image"])
    write(out, "mobilenetv2_b1", MobileNetV2(), (torch.randn(1, 3, 224, 224),), ["image"])
    write(out, "resnet50_b2", ResNet50(), (torch.randn(2, 3, 224, 224),), ["image"])
    write(out, "speech_b4_t400", Speech(), (torch.randn(4, 80, 400),), ["features"])
    write(out, "dbnet_b1", DBNet(), (torch.rand(1, 3, 384, 512),), ["image"])
    print("gen_bench_models: wrote", out)


if __name__ == "__main__":
    main()
