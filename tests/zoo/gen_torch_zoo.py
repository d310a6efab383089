#!/usr/bin/python3
"""Generates a small zoo of PyTorch-exported ONNX models with reference outputs, in ONNX backend-test layout.

    /usr/bin/python3 tests/zoo/gen_torch_zoo.py OUT_DIR     # writes OUT_DIR/zoo/<model>_op<N>/...

Every model is defined here from scratch with seeded random weights (nothing is downloaded) and exported
with torch.onnx.export (the TorchScript exporter) at a few opsets. Each case holds model.onnx and one
test_data_set_N per input size (dynamic models get two sizes); expected outputs are PyTorch's own.
The families are the ones real exported models come in: ResNet- and MobileNetV2-style CNNs, a UNet, a
speech encoder (Conv1d + GroupNorm + LSTM/GRU), a CRNN for OCR, an nn.Transformer encoder-decoder, a
GPT-style decoder (with and without a KV cache) and a model of assorted tensor ops.

Exits 77 (CTest's skip code) when PyTorch or ONNX is not installed.
"""
import math
import os
import sys
import warnings

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"gen_torch_zoo: skipping, {e}")
    sys.exit(77)

warnings.filterwarnings("ignore")
torch.set_num_threads(2)


# --------------------------------------------------------------------------------------------------
# helpers

def randomize(model, seed):
    """Seeds every parameter and makes BatchNorm statistics non-trivial, then switches to eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p.shape[1] * int(np.prod(p.shape[2:])) if p.dim() > 1 else max(p.shape[0], 1)
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * (1.0 / fan_in) ** 0.5 * 1.5)
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            if isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
    return model.eval()


def as_tuple(x):
    if isinstance(x, (list, tuple)):
        out = []
        for v in x:
            out.extend(as_tuple(v))
        return tuple(out)
    return (x,)


def write_pb(arr, name, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.array(arr, order="C"), name).SerializeToString())


def emit(out, name, model, datasets, input_names, output_names, opsets, dynamic_axes=None, preserve_bn=(),
         fold=True):
    """Exports `model` at each opset into OUT/zoo/NAME_opN and writes every data set with torch's outputs."""
    refs = []
    with torch.no_grad():
        for ds in datasets:
            refs.append([t.numpy() for t in as_tuple(model(*ds))])
    for opset in opsets:
        case = os.path.join(out, "zoo", f"{name}_op{opset}")
        os.makedirs(case, exist_ok=True)
        path = os.path.join(case, "model.onnx")
        kw = {}
        if opset in preserve_bn:  # keep BatchNormalization nodes instead of folding them into Conv
            kw["training"] = torch.onnx.TrainingMode.PRESERVE
        # gradients stay enabled: under no_grad, nn.TransformerEncoderLayer takes a fused fast path that
        # has no ONNX export
        if True:
            torch.onnx.export(model, tuple(datasets[0]), path, opset_version=opset, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes or {},
                              do_constant_folding=fold, **kw)
        graph_inputs = [i.name for i in onnx.load(path).graph.input]
        assert graph_inputs == input_names, f"{name}: exported inputs {graph_inputs} != {input_names}"
        for n, (ds, ref) in enumerate(zip(datasets, refs)):
            d = os.path.join(case, f"test_data_set_{n}")
            os.makedirs(d, exist_ok=True)
            for k, (t, nm) in enumerate(zip(ds, input_names)):
                write_pb(t.numpy(), nm, os.path.join(d, f"input_{k}.pb"))
            for k, (a, nm) in enumerate(zip(ref, output_names)):
                write_pb(a, nm, os.path.join(d, f"output_{k}.pb"))
        print(f"  {name}_op{opset}")


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def randint(lo, hi, shape, seed=0):
    return torch.randint(lo, hi, shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------------------
# ResNet-style CNN

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 48, 2))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(48, 32)
        self.bn = nn.BatchNorm1d(32)
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        x = self.pool(self.layers(self.stem(x)))
        x = torch.flatten(x, 1)
        return self.head(F.relu(self.bn(self.fc(x))))


# --------------------------------------------------------------------------------------------------
# MobileNetV2/V3-style CNN

class SqueezeExcite(nn.Module):
    def __init__(self, c, hard):
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(c // 4, 4), 1)
        self.fc2 = nn.Conv2d(max(c // 4, 4), c, 1)
        self.gate = nn.Hardsigmoid() if hard else nn.Sigmoid()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, se=None, act=nn.ReLU6):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), act(),
                  nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), act()]
        if se is not None:
            layers.append(SqueezeExcite(hid, hard=se == "hard"))
        layers += [nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class MobileNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 1),
            InvertedResidual(16, 24, 2, 4),
            InvertedResidual(24, 24, 1, 3, se="sigmoid"),
            InvertedResidual(24, 32, 2, 3, se="hard", act=nn.Hardswish),
            InvertedResidual(32, 32, 1, 3, se="hard", act=nn.Hardswish))
        self.grouped = nn.Conv2d(32, 64, 3, 1, 1, groups=4)  # grouped (not depthwise) convolution
        self.head = nn.Sequential(nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(64, classes))

    def forward(self, x):
        return self.head(self.grouped(self.blocks(self.stem(x))))


# --------------------------------------------------------------------------------------------------
# UNet

def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.ReLU())


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = conv_block(3, 8)
        self.enc2 = conv_block(8, 16)
        self.bott = conv_block(16, 32)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, 2)
        self.dec1 = conv_block(32, 16)
        self.up2 = nn.ConvTranspose2d(16, 8, 3, 2, 1, output_padding=1)
        self.dec2 = conv_block(8 + 8 + 16, 8)
        self.out = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)                      # H
        e2 = self.enc2(F.max_pool2d(e1, 2))    # H/2
        b = self.bott(F.max_pool2d(e2, 2))     # H/4
        d1 = self.dec1(torch.cat([self.up1(b), e2], 1))                  # H/2
        up_a = F.interpolate(d1, scale_factor=2.0, mode="bilinear", align_corners=False)
        up_b = F.interpolate(b, size=e1.shape[2:], mode="bilinear", align_corners=True)
        skip = self.up2(d1) + up_a[:, :8]
        d2 = self.dec2(torch.cat([skip, e1, up_b[:, :16]], 1))
        n = F.interpolate(self.out(d2), scale_factor=0.5, mode="nearest")
        n = F.interpolate(n, scale_factor=2.0, mode="nearest")
        return torch.sigmoid(self.out(d2)) + n


# --------------------------------------------------------------------------------------------------
# Speech: Conv1d front end, GroupNorm, GELU, LayerNorm, bidirectional LSTM and GRU, log_softmax

class Speech(nn.Module):
    def __init__(self, feats=20, vocab=12):
        super().__init__()
        self.conv1 = nn.Conv1d(feats, 32, 3, 2, 1)
        self.gn = nn.GroupNorm(4, 32)
        self.conv2 = nn.Conv1d(32, 32, 5, 1, 2, groups=2)
        self.ln = nn.LayerNorm(32)
        self.lstm = nn.LSTM(32, 16, num_layers=2, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(32, 16, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(32, vocab)

    def forward(self, x):                                  # [B, feats, T]
        x = F.gelu(self.gn(self.conv1(x)))
        x = F.gelu(self.conv2(x)) + x
        x = self.ln(x.transpose(1, 2))                     # [B, T', 32]
        x, _ = self.lstm(x)
        x, h = self.gru(x)
        return F.log_softmax(self.fc(x), dim=-1), h


# --------------------------------------------------------------------------------------------------
# CRNN (OCR): conv stack, BiLSTM over width, Linear, log_softmax

class CRNN(nn.Module):
    def __init__(self, classes=20):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),            # 16 x W/2
            nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),           # 8 x W/4
            nn.Conv2d(32, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d((2, 1), (2, 1)),                                        # 4 x W/4
            nn.Conv2d(32, 48, 3, 1, 1), nn.ReLU(), nn.MaxPool2d((2, 2), (2, 1), (0, 1)),  # 2 x W/4+1
            nn.Conv2d(48, 48, 2, 1, 0), nn.ReLU())                               # 1 x W/4
        self.rnn = nn.LSTM(48, 24, bidirectional=True)
        self.fc = nn.Linear(48, classes)

    def forward(self, x):                          # [B, 1, 32, W]
        f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # [W', B, C]
        y, _ = self.rnn(f)
        return F.log_softmax(self.fc(y), dim=2)


# --------------------------------------------------------------------------------------------------
# nn.Transformer encoder-decoder

class Seq2Seq(nn.Module):
    def __init__(self, vocab=30, d=32, mask_inside=True):
        super().__init__()
        self.mask_inside = mask_inside
        self.src_emb = nn.Embedding(vocab, d)
        self.tgt_emb = nn.Embedding(vocab, d)
        pos = torch.arange(64).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2) * (-np.log(10000.0) / d))
        pe = torch.zeros(64, 1, d)
        pe[:, 0, 0::2] = torch.sin(pos * div)
        pe[:, 0, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe)
        self.tf = nn.Transformer(d, 4, 2, 2, 64, dropout=0.0, activation="gelu")
        self.out = nn.Linear(d, vocab)
        self.d = d

    def forward(self, src, tgt, src_pad, tgt_pad, tgt_mask=None):   # src [S, B], tgt [T, B], pads [B, S] / [B, T]
        s = self.src_emb(src) * self.d ** 0.5 + self.pe[:src.shape[0]]
        t = self.tgt_emb(tgt) * self.d ** 0.5 + self.pe[:tgt.shape[0]]
        if self.mask_inside:
            tgt_mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[0])
        y = self.tf(s, t, tgt_mask=tgt_mask, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
                    memory_key_padding_mask=src_pad)
        return self.out(y)


def pad_mask(b, n, lens):
    m = torch.zeros(b, n, dtype=torch.bool)
    for i, l in enumerate(lens):
        m[i, l:] = True
    return m


# --------------------------------------------------------------------------------------------------
# GPT-style decoder-only

class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.h = heads

    def forward(self, x, causal, past=None, bias=None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / (C // self.h) ** 0.5)
        att = att.masked_fill(causal, float("-inf"))
        if bias is not None:
            att = att + bias
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y), (k, v)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x, causal, past=None, bias=None):
        a, present = self.attn(self.ln1(x), causal, past, bias)
        x = x + a
        return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh")), present


class GPT(nn.Module):
    def __init__(self, vocab=40, d=32, heads=4, layers=2, ctx=64, use_triu=True):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.use_triu = use_triu

    def forward(self, ids):                                      # [B, T]
        T = ids.shape[1]
        pos = torch.arange(0, T, dtype=torch.long, device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        if self.use_triu:
            causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        else:
            causal = pos.unsqueeze(0) > pos.unsqueeze(1)
        for b in self.blocks:
            x, _ = b(x, causal)
        return self.ln_f(x) @ self.wte.weight.t()                  # tied output embedding


class GPTWithPast(GPT):
    def forward(self, ids, attention_mask, pk0, pv0, pk1, pv1):    # past [B, H, P, D], mask [B, P+T]
        T = ids.shape[1]
        P = pk0.shape[2]
        pos = torch.arange(P, P + T, dtype=torch.long)
        x = self.wte(ids) + self.wpe(pos)
        kpos = torch.arange(0, P + T, dtype=torch.long)
        causal = kpos.unsqueeze(0) > pos.unsqueeze(1)              # [T, P+T]
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        presents = []
        for b, past in zip(self.blocks, [(pk0, pv0), (pk1, pv1)]):
            x, present = b(x, causal, past, bias)
            presents += list(present)
        return (self.ln_f(x) @ self.wte.weight.t(), *presents)


# --------------------------------------------------------------------------------------------------
# Assorted tensor ops

class Misc(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6, 5))

    def forward(self, x, idx, y):            # x [B, 8, 6, 6], idx [B, 8, 2, 6] int64 in [0, 6), y [B, 8, 6, 6]
        vals, inds = torch.topk(x.flatten(2), 3, dim=-1)
        am = torch.argmax(x, dim=1, keepdim=True)
        cs = torch.cumsum(x, dim=2)
        e1 = torch.einsum("bcij,bcjk->bcik", x, y)
        e2 = torch.einsum("bchw,chw->bc", x[:, :4, :, :5] , self.w[:, :6, :5])
        g = torch.gather(x, 2, idx)
        sc = torch.scatter(y, 2, idx, g * 2.0)
        wh = torch.where(x > 0.3, x, y * 2.0)
        pos = x[x > 0.5]                                       # NonZero, data-dependent length
        ex = x[:, :1, :1, :].expand(-1, 8, 6, -1) + x
        rp = x[:, :2].repeat(1, 2, 1, 3)
        fl = torch.flip(x, dims=[1, 3])
        pr = F.pad(x, (1, 2, 2, 1), mode="reflect")
        pe = F.pad(x, (2, 0, 1, 3), mode="replicate")
        ps = F.pixel_shuffle(x, 2)
        mm = torch.matmul(x, y.transpose(-1, -2)) + torch.matmul(x[:, 0], self.w[0]).sum()
        return vals, inds, am, cs, e1, e2, g, sc, wh, pos, ex, rp, fl, pr, pe, ps, mm


# --------------------------------------------------------------------------------------------------
# LLaMA-style decoder: RMSNorm, rotary embeddings, SwiGLU, grouped-query attention, KV cache, HF-style masks

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class LlamaLayer(nn.Module):
    def __init__(self, d, heads, kv_heads, interleave):
        super().__init__()
        self.h, self.kvh, self.hd, self.interleave = heads, kv_heads, d // heads, interleave
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.gate = nn.Linear(d, 2 * d, bias=False)
        self.up = nn.Linear(d, 2 * d, bias=False)
        self.down = nn.Linear(2 * d, d, bias=False)

    def forward(self, x, cos, sin, mask, pk, pv):
        B, T, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.kvh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = torch.cat([pk, k], dim=2)
        v = torch.cat([pv, v], dim=2)
        n = self.h // self.kvh
        if self.interleave:
            kr, vr = k.repeat_interleave(n, dim=1), v.repeat_interleave(n, dim=1)
        else:
            S = k.shape[2]
            kr = k[:, :, None, :, :].expand(B, self.kvh, n, S, self.hd).reshape(B, self.h, S, self.hd)
            vr = v[:, :, None, :, :].expand(B, self.kvh, n, S, self.hd).reshape(B, self.h, S, self.hd)
        att = torch.matmul(q, kr.transpose(2, 3)) / (self.hd ** 0.5) + mask
        att = F.softmax(att, dim=-1, dtype=torch.float32)
        y = torch.matmul(att, vr).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(y)
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h)), k, v


class Llama(nn.Module):
    def __init__(self, vocab=48, d=32, heads=4, kv_heads=2, interleave=False):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([LlamaLayer(d, heads, kv_heads, interleave) for _ in range(2)])
        self.norm = RMSNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        hd = d // heads
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd)))

    def forward(self, ids, attention_mask, pk0, pv0, pk1, pv1):
        B, T = ids.shape
        P = pk0.shape[2]
        pos = torch.arange(P, P + T, dtype=torch.long).unsqueeze(0)
        freqs = torch.einsum("i,j->ij", pos[0].float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        # causal mask as transformers builds it: a [T, T] block of -max below a zero past block
        neg = torch.finfo(torch.float32).min
        mask = torch.full((T, T), neg)
        cond = torch.arange(mask.size(-1))
        mask.masked_fill_(cond < (cond + 1).view(mask.size(-1), 1), 0)
        mask = torch.cat([torch.zeros(T, P, dtype=torch.float32), mask], dim=-1)[None, None].expand(B, 1, T, T + P)
        inv = 1.0 - attention_mask[:, None, None, :].expand(B, 1, T, T + P).to(torch.float32)
        mask = mask + inv.masked_fill(inv.to(torch.bool), neg)
        mask = torch.max(mask, torch.tensor(neg))
        x = self.emb(ids)
        presents = []
        for layer, (pk, pv) in zip(self.layers, [(pk0, pv0), (pk1, pv1)]):
            x, k, v = layer(x, cos, sin, mask, pk, pv)
            presents += [k, v]
        return (self.lm_head(self.norm(x)), *presents)


# --------------------------------------------------------------------------------------------------
# BERT-style encoder: three embeddings, hand-written LayerNorm, extended attention mask, erf GELU, pooler

class BertLayerNorm(nn.Module):
    def __init__(self, d, eps=1e-12):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        s = (x - u).pow(2).mean(-1, keepdim=True)
        return self.weight * ((x - u) / torch.sqrt(s + self.eps)) + self.bias


class BertLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = BertLayerNorm(d), nn.LayerNorm(d, eps=1e-12)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.h = heads

    def split(self, x):
        B, T, C = x.size()
        return x.view(B, T, self.h, C // self.h).permute(0, 2, 1, 3)

    def forward(self, x, ext):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.size(-1)) + ext
        c = torch.matmul(nn.Softmax(dim=-1)(s), v).permute(0, 2, 1, 3).contiguous()
        c = c.view(c.size()[:-2] + (x.size(-1),))
        x = self.ln1(self.o(c) + x)
        return self.ln2(self.fc2(F.gelu(self.fc1(x))) + x)


class Bert(nn.Module):
    def __init__(self, vocab=50, d=32):
        super().__init__()
        self.word, self.pos, self.tok_type = nn.Embedding(vocab, d, padding_idx=0), nn.Embedding(40, d), nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(d, 4) for _ in range(2)])
        self.pool = nn.Linear(d, d)
        self.register_buffer("position_ids", torch.arange(40).expand((1, -1)))

    def forward(self, input_ids, attention_mask, token_type_ids):
        T = input_ids.size(1)
        x = self.word(input_ids) + self.pos(self.position_ids[:, :T]) + self.tok_type(token_type_ids)
        x = self.ln(x)
        ext = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(dtype=x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, ext)
        return x, torch.tanh(self.pool(x[:, 0]))


# --------------------------------------------------------------------------------------------------
# T5-style encoder-decoder: relative position buckets (log, integer casts, where), no-bias RMS norm, ReLU FF

def rel_bucket(rel, bidirectional, nb=16, maxd=32):
    ret = torch.zeros_like(rel)
    if bidirectional:
        nb //= 2
        ret = ret + (rel > 0).to(torch.long) * nb
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    exact = nb // 2
    small = rel < exact
    large = exact + (torch.log(rel.float() / exact) / math.log(maxd / exact) * (nb - exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, nb - 1))
    return ret + torch.where(small, rel, large)


class T5Attn(nn.Module):
    def __init__(self, d, heads, rel=None):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.h = heads
        self.rel = rel  # None or bidirectional flag

        if rel is not None:
            self.bias = nn.Embedding(16, heads)

    def position_bias(self, tq, tk):
        ctx = torch.arange(tq, dtype=torch.long)[:, None]
        mem = torch.arange(tk, dtype=torch.long)[None, :]
        b = self.bias(rel_bucket(mem - ctx, self.rel))   # [tq, tk, h]
        return b.permute([2, 0, 1]).unsqueeze(0)

    def forward(self, x, kv, mask, bias=None):
        B, T, C = x.shape
        S = kv.shape[1]
        q = self.q(x).view(B, T, self.h, -1).transpose(1, 2)
        k = self.k(kv).view(B, S, self.h, -1).transpose(1, 2)
        v = self.v(kv).view(B, S, self.h, -1).transpose(1, 2)
        if bias is None:
            bias = self.position_bias(T, S) if self.rel is not None else torch.zeros(1, self.h, T, S)
            bias = bias + mask
        w = F.softmax((q @ k.transpose(3, 2)).float() + bias, dim=-1).type_as(q)
        return self.o((w @ v).transpose(1, 2).contiguous().view(B, T, C)), bias


class T5Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.to(torch.float32).pow(2).mean(-1, keepdim=True) + 1e-6))


class T5(nn.Module):
    def __init__(self, vocab=40, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.enc = nn.ModuleList([nn.ModuleList([T5Norm(d), T5Attn(d, 4, True if i == 0 else None), T5Norm(d),
                                                 nn.Linear(d, 64, bias=False), nn.Linear(64, d, bias=False)])
                                  for i in range(2)])
        self.dec = nn.ModuleList([nn.ModuleList([T5Norm(d), T5Attn(d, 4, False if i == 0 else None), T5Norm(d),
                                                 T5Attn(d, 4), T5Norm(d), nn.Linear(d, 64, bias=False),
                                                 nn.Linear(64, d, bias=False)]) for i in range(2)])
        self.enc_norm, self.dec_norm = T5Norm(d), T5Norm(d)
        self.d = d

    def forward(self, input_ids, attention_mask, decoder_input_ids):
        neg = torch.finfo(torch.float32).min
        emask = (1.0 - attention_mask[:, None, None, :].float()) * neg
        x = self.emb(input_ids)
        bias = None
        for n1, att, n2, f1, f2 in self.enc:
            a, bias = att(n1(x), n1(x), emask, bias)
            x = x + a
            x = x + f2(F.relu(f1(n2(x))))
        mem = self.enc_norm(x)
        T = decoder_input_ids.shape[1]
        seq = torch.arange(T)
        causal = (seq[None, None, :].repeat(decoder_input_ids.shape[0], T, 1) <= seq[None, :, None]).to(torch.float32)
        dmask = (1.0 - causal[:, None, :, :]) * neg
        y = self.emb(decoder_input_ids)
        sb, cb = None, None
        for n1, sa, n2, ca, n3, f1, f2 in self.dec:
            a, sb = sa(n1(y), n1(y), dmask, sb)
            y = y + a
            a, cb = ca(n2(y), mem, emask, cb)
            y = y + a
            y = y + f2(F.relu(f1(n3(y))))
        return self.dec_norm(y) * self.d ** -0.5 @ self.emb.weight.t()


# --------------------------------------------------------------------------------------------------
# ViT: patch embedding, class token, nn.TransformerEncoder (batch_first, norm_first), MultiheadAttention

class ViT(nn.Module):
    def __init__(self, d=32, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, 4)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, 17, d))
        layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.pool_attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.encoder(x)
        q = x[:, :1]
        p, w = self.pool_attn(q, x, x)
        return self.head(self.norm(p[:, 0])), w


# --------------------------------------------------------------------------------------------------
# Conformer-style speech encoder: Conv2d subsampling, lengths -> key padding mask, macaron FF with SiLU,
# MultiheadAttention, GLU + depthwise Conv1d + BatchNorm1d conv module

class Conformer(nn.Module):
    def __init__(self, feats=16, d=32):
        super().__init__()
        self.sub = nn.Sequential(nn.Conv2d(1, 8, 3, 2), nn.ReLU(), nn.Conv2d(8, 8, 3, 2), nn.ReLU())
        self.proj = nn.Linear(8 * ((((feats - 1) // 2) - 1) // 2), d)
        self.ff1 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 64), nn.SiLU(), nn.Linear(64, d))
        self.ln_att = nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, 4, batch_first=True)
        self.ln_conv = nn.LayerNorm(d)
        self.pw1 = nn.Conv1d(d, 2 * d, 1)
        self.dw = nn.Conv1d(d, d, 7, padding=3, groups=d)
        self.bn = nn.BatchNorm1d(d)
        self.pw2 = nn.Conv1d(d, d, 1)
        self.ff2 = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 64), nn.SiLU(), nn.Linear(64, d))
        self.out = nn.Linear(d, 10)

    def forward(self, feats, lengths):               # [B, T, F], [B]
        x = self.sub(feats.unsqueeze(1))            # [B, C, T', F']
        B, C, T, Fq = x.shape
        x = self.proj(x.transpose(1, 2).reshape(B, T, C * Fq))
        lengths = torch.div(torch.div(lengths - 3, 2, rounding_mode="floor") + 1 - 3, 2, rounding_mode="floor") + 1
        pad = torch.arange(T)[None, :] >= lengths[:, None]
        x = x + 0.5 * self.ff1(x)
        h = self.ln_att(x)
        x = x + self.att(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        h = self.ln_conv(x).transpose(1, 2)
        h = F.glu(self.pw1(h), dim=1)
        h = self.pw2(F.silu(self.bn(self.dw(h))))
        x = x + h.transpose(1, 2)
        x = x + 0.5 * self.ff2(x)
        x = x.masked_fill(pad.unsqueeze(-1), 0.0)
        return F.log_softmax(self.out(x), dim=-1), lengths


# --------------------------------------------------------------------------------------------------
# More element-wise, pooling, resize, reduction and integer ops

class Misc2(nn.Module):
    def __init__(self):
        super().__init__()
        self.prelu = nn.PReLU(8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.dil = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.convt = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, groups=2, dilation=1)

    def forward(self, x, n):                        # x [B, 8, 7, 9] float, n [B, 5] int64
        acts = (F.leaky_relu(x, 0.1) + self.prelu(x) + F.elu(x) + F.selu(x) + F.softplus(x) + F.mish(x) +
                F.silu(x) + F.softsign(x) + F.hardtanh(x, -0.5, 0.5) + F.celu(x, 0.7) + F.gelu(x, approximate="tanh") +
                torch.tanh(x) + F.hardswish(x) + F.relu6(x * 4))
        y = self.inorm(self.dil(x)) + self.convt(x)[:, :, :7, :9]
        pools = (F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                 F.max_pool2d(x, 3, 2, 0, ceil_mode=True),
                 F.avg_pool2d(x, 2, 2, ceil_mode=False), F.lp_pool2d(x, 2, 2))
        rs = (F.interpolate(x, scale_factor=1.5, mode="nearest"),
              F.interpolate(x, size=(10, 5), mode="bilinear", align_corners=False),
              F.interpolate(x, size=(11, 13), mode="bicubic", align_corners=False),
              F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=True),
              F.adaptive_avg_pool2d(x[:, :, :6, :9], (2, 3)),
              F.adaptive_max_pool2d(x, 1))
        red = (x.std(dim=(2, 3)), x.var(dim=1, unbiased=False), F.normalize(x, dim=1), torch.logsumexp(x, dim=-1),
               x.amax(dim=(1, 3)), x.amin(dim=2), (x * 0.1 + 1).prod(dim=3), torch.norm(x, p=2, dim=1),
               F.cosine_similarity(x[:, :4], x[:, 4:], dim=1), x.sum(dim=[1, 2], keepdim=True), x.abs().mean(),
               torch.norm(x, p=1, dim=-1))
        ints = (torch.div(n, 3, rounding_mode="floor"), torch.remainder(n, 3), torch.fmod(n, 3),
                torch.div(n, 3, rounding_mode="trunc"), n.clamp(-3, 4), torch.sort(n, dim=1, descending=True)[0],
                torch.argsort(n, dim=1), torch.roll(n, 2, 1), torch.cumsum(n, 1), n * n - n,
                torch.bitwise_not(n > 0).to(torch.int32), torch.tril(n[:, None, :].expand(-1, 3, -1), diagonal=1))
        sh = torch.stack(torch.chunk(x, 2, dim=1), 0).sum(0) + torch.index_select(x, 1, torch.tensor([1, 0, 3, 2]))
        sh = sh + sum(torch.unbind(x.narrow(2, 1, 3), dim=2))[:, :4, None, :]
        return (acts, y) + pools + rs + red + ints + (sh, x.double().exp().sum(1), x.to(torch.int32).to(torch.float32))


# --------------------------------------------------------------------------------------------------
# Packed-sequence LSTM (sequence_lens) and a scripted recurrent loop (Loop / If)

class PackedLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(12, 16, bidirectional=True, batch_first=True)
        self.gru = nn.GRU(12, 8, batch_first=True)

    def forward(self, x, lengths, h0):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=True)
        y, (h, c) = self.rnn(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        g, hg = self.gru(x, h0)
        return y, h, c, g, hg


class ScriptedLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(8, 8)
        self.u = nn.Linear(8, 8)

    def forward(self, x):                  # [T, B, 8]
        h = torch.zeros(x.shape[1], 8)
        outs = []
        for t in range(x.shape[0]):
            h = torch.tanh(self.w(x[t]) + self.u(h))
            if bool(h.sum() > 0):
                h = h * 0.5
            else:
                h = h + 0.1
            outs.append(h)
        return torch.stack(outs, 0), h


# --------------------------------------------------------------------------------------------------
# Still more ops: im2col, max-pool indices + unpool, one-hot, baddbmm, advanced indexing and index_put,
# rounding and logic, 1-D and 3-D convolution and pooling, int32 embedding indices

class Misc3(nn.Module):
    def __init__(self):
        super().__init__()
        self.c3 = nn.Conv3d(2, 4, 3, padding=1)
        self.bn3 = nn.BatchNorm3d(4)
        self.t3 = nn.ConvTranspose3d(4, 2, 2, stride=2)
        self.same = nn.Conv2d(4, 4, 4)
        self.tcn = nn.Conv1d(4, 4, 3, dilation=2)
        self.emb = nn.Embedding(20, 6)

    def forward(self, x, v, ids, sel):   # x [B, 4, 8, 8], v [B, 2, 4, 6, 6], ids [B, 5] int32, sel [3] int64
        B = x.shape[0]
        cols = F.unfold(x, 3, padding=1, stride=2)                                     # [B, 36, 16]
        mp, ind = F.max_pool2d(x, 2, 2, return_indices=True)
        un = torch.gather(x.flatten(2), 2, ind.flatten(2))  # indices of max_pool2d are per (batch, channel) plane
        oh = F.one_hot(ids.long() % 7, 7).to(torch.float32)
        bb = torch.baddbmm(x.flatten(2)[:, :, :4], x.flatten(2), x.flatten(2).transpose(1, 2)[:, :, :4],
                           beta=0.5, alpha=0.25)
        mn, amn = torch.min(x, dim=2)
        cl = torch.clamp(x, min=x.mean(dim=1, keepdim=True), max=x.amax(dim=1, keepdim=True) * 0.5)
        rnd = torch.round(x * 3) + torch.floor(x) + torch.ceil(x) + torch.sign(x) + torch.atan(x)
        lg = (torch.logical_xor(x > 0, x < 0.5) | torch.isnan(x.log())).to(torch.int64)
        g1 = x[:, sel]                                                                # Gather
        g2 = x[:, sel, sel]                                                           # advanced indexing
        y = x.clone()
        y[:, sel] = 1.5
        y[x > 1.0] = -1.0
        a, b, c = torch.split(x, [1, 2, 1], dim=1)
        es = torch.einsum("...ij,...jk->...ik", x, x) + torch.einsum("bcii->bci", x).unsqueeze(-1).sum() * 0
        p = self.same(F.pad(x, (1, 2, 1, 2)))                                          # "same", even kernel
        t = self.tcn(F.pad(x.flatten(2)[:, :, :20], (4, 0)))
        p1 = F.avg_pool1d(t, 3, 2, 1) , F.max_pool1d(t, 2), F.adaptive_max_pool1d(t, 1)
        vv = self.t3(F.relu(self.bn3(self.c3(v))))
        vv = F.max_pool3d(vv, 2) + F.avg_pool3d(vv, 2)
        tri = F.interpolate(v, scale_factor=2, mode="trilinear", align_corners=False)
        e = self.emb(ids)
        ar = torch.arange(0.5, x.shape[2] * 0.5, 0.25) * x.shape[0]
        return (cols, mp, ind, un, oh, bb, mn, amn, cl, rnd, lg, g1, g2, y, a * c + b.sum(1, keepdim=True), es, p, t) + \
            p1 + (vv, tri, e, ar)


class SpatialTransformer(nn.Module):
    """STN front end (as in OCR rectifiers): a localization net regresses an affine grid for grid_sample."""
    def __init__(self):
        super().__init__()
        self.loc = nn.Sequential(nn.Conv2d(1, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(8, 6))

    def forward(self, x):
        theta = self.loc(x).view(-1, 2, 3) * 0.3 + torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
        H, W = x.shape[2], x.shape[3]
        xs = (torch.arange(W).to(torch.float32) * 2 + 1) / W - 1      # affine_grid(align_corners=False) by hand:
        ys = (torch.arange(H).to(torch.float32) * 2 + 1) / H - 1      # the exporter has no affine_grid_generator
        base = torch.stack([xs[None, :].expand(H, W), ys[:, None].expand(H, W), torch.ones(H, W)], -1)
        grid = (base.reshape(1, H * W, 3) @ theta.transpose(1, 2)).reshape(-1, H, W, 2)
        a = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        b = F.grid_sample(x, grid * 1.2, mode="nearest", padding_mode="border", align_corners=True)
        c = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
        return a, b, c


class Spectrogram(nn.Module):
    """Spectrogram front end: log-magnitude STFT (as a convolution), then a small conv and GRU."""
    def __init__(self):
        super().__init__()
        n = torch.arange(64).to(torch.float64)
        k = torch.arange(33).to(torch.float64)[:, None]
        win = torch.hann_window(64, dtype=torch.float64)
        basis = torch.cat([torch.cos(2 * math.pi * k * n / 64) * win, -torch.sin(2 * math.pi * k * n / 64) * win])
        self.register_buffer("basis", basis.to(torch.float32)[:, None, :])
        self.conv = nn.Conv1d(33, 16, 3, padding=1)
        self.gru = nn.GRU(16, 8, batch_first=True)

    def forward(self, wav):                   # [B, samples]
        # the exporter has no stft: a strided Conv1d with windowed cos/sin kernels, as exportable front ends do
        spec = F.conv1d(F.pad(wav[:, None], (32, 32), mode="reflect"), self.basis, stride=16)   # [B, 66, frames]
        mag = spec[:, :33].pow(2) + spec[:, 33:].pow(2)
        feats = torch.log(mag + 1e-6)
        y, h = self.gru(F.relu(self.conv(feats)).transpose(1, 2))
        return feats, y


# --------------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    torch.manual_seed(0)

    print("gen_torch_zoo: writing", os.path.join(out, "zoo"))
    img = {0: "batch"}
    emit(out, "resnet", randomize(ResNet(), 1), [(randn(1, 3, 64, 64, seed=1),), (randn(3, 3, 48, 40, seed=2),),
                                                  (randn(2, 3, 160, 128, seed=60),)],
         ["image"], ["logits"], [9, 11, 13, 17], {"image": {0: "batch", 2: "h", 3: "w"}, "logits": img},
         preserve_bn=(11,))
    emit(out, "mobilenet", randomize(MobileNet(), 2), [(randn(1, 3, 64, 64, seed=3),), (randn(2, 3, 32, 48, seed=4),),
                                                     (randn(2, 3, 128, 96, seed=61),)],
         ["image"], ["logits"], [11, 13, 17], {"image": {0: "batch", 2: "h", 3: "w"}, "logits": img},
         preserve_bn=(13,))
    emit(out, "unet", randomize(UNet(), 3), [(randn(1, 3, 32, 32, seed=5),), (randn(2, 3, 16, 24, seed=6),),
                                             (randn(1, 3, 96, 64, seed=62),)],
         ["image"], ["mask"], [11, 13, 17], {"image": {0: "batch", 2: "h", 3: "w"}, "mask": {0: "b", 2: "h", 3: "w"}})
    emit(out, "speech", randomize(Speech(), 4), [(randn(1, 20, 50, seed=7),), (randn(2, 20, 37, seed=8),),
                                                (randn(4, 20, 301, seed=63),)],
         ["features"], ["log_probs", "h_n"], [11, 13, 17],
         {"features": {0: "batch", 2: "time"}, "log_probs": {0: "batch", 1: "frames"}, "h_n": {1: "batch"}})
    emit(out, "crnn", randomize(CRNN(), 5), [(randn(1, 1, 32, 100, seed=9),), (randn(2, 1, 32, 64, seed=10),),
                                              (randn(4, 1, 32, 320, seed=64),)],
         ["image"], ["log_probs"], [10, 11, 17], {"image": {0: "batch", 3: "width"}, "log_probs": {0: "steps", 1: "batch"}})

    s2s_names = ["src", "tgt", "src_padding_mask", "tgt_padding_mask"]
    s2s_axes = {"src": {0: "S", 1: "B"}, "tgt": {0: "T", 1: "B"}, "src_padding_mask": {0: "B", 1: "S"},
                "tgt_padding_mask": {0: "B", 1: "T"}, "logits": {0: "T", 1: "B"}}
    sets = [(randint(0, 30, (7, 2), seed=11), randint(0, 30, (5, 2), seed=12), pad_mask(2, 7, [7, 4]),
             pad_mask(2, 5, [5, 3])),
            (randint(0, 30, (9, 3), seed=13), randint(0, 30, (6, 3), seed=14), pad_mask(3, 9, [5, 9, 8]),
             pad_mask(3, 6, [6, 6, 2]))]
    emit(out, "transformer", randomize(Seq2Seq(mask_inside=True), 6), sets, s2s_names, ["logits"], [17], s2s_axes)
    causal = lambda n: torch.triu(torch.full((n, n), float("-inf")), diagonal=1)  # noqa: E731
    sets_m = [s + (causal(s[1].shape[0]),) for s in sets]
    s2s_axes_m = dict(s2s_axes, tgt_mask={0: "T", 1: "T"})
    emit(out, "transformer_mask_input", randomize(Seq2Seq(mask_inside=False), 6), sets_m, s2s_names + ["tgt_mask"],
         ["logits"], [11, 13], s2s_axes_m)

    emit(out, "gpt", randomize(GPT(use_triu=True), 7), [(randint(0, 40, (1, 9), seed=15),),
                                                        (randint(0, 40, (2, 5), seed=16),),
                                                        (randint(0, 40, (4, 64), seed=66),)],
         ["input_ids"], ["logits"], [14, 17], {"input_ids": {0: "B", 1: "T"}, "logits": {0: "B", 1: "T"}})
    emit(out, "gpt_arange_mask", randomize(GPT(use_triu=False), 7), [(randint(0, 40, (1, 9), seed=15),),
                                                                     (randint(0, 40, (2, 5), seed=16),)],
         ["input_ids"], ["logits"], [10, 11, 13], {"input_ids": {0: "B", 1: "T"}, "logits": {0: "B", 1: "T"}})
    kv_in = ["input_ids", "attention_mask", "past_key_0", "past_value_0", "past_key_1", "past_value_1"]
    kv_out = ["logits", "present_key_0", "present_value_0", "present_key_1", "present_value_1"]
    kv_axes = {"input_ids": {0: "B", 1: "T"}, "attention_mask": {0: "B", 1: "PT"}, "logits": {0: "B", 1: "T"}}
    for n in kv_in[2:]:
        kv_axes[n] = {0: "B", 2: "P"}
    for n in kv_out[1:]:
        kv_axes[n] = {0: "B", 2: "PT"}

    def kv_set(b, t, p, seed, pad=0):
        mask = torch.ones(b, p + t, dtype=torch.long)
        if pad:
            mask[0, :pad] = 0
        return (randint(0, 40, (b, t), seed=seed), mask) + tuple(randn(b, 4, p, 8, seed=seed + i) for i in range(4))

    emit(out, "gpt_kv_cache", randomize(GPTWithPast(), 7), [kv_set(1, 1, 7, 17), kv_set(2, 4, 3, 18, pad=2),
                                                                  kv_set(2, 5, 0, 19)],
         kv_in, kv_out, [13, 17], kv_axes)

    misc_names = ["vals", "inds", "argmax", "cumsum", "einsum", "einsum2", "gather", "scatter", "where", "masked",
                  "expand", "repeat", "flip", "pad_reflect", "pad_edge", "pixel_shuffle", "matmul"]
    misc_axes = {"x": {0: "B"}, "idx": {0: "B"}, "y": {0: "B"}, "masked": {0: "N"}}
    for n in misc_names:
        if n != "masked":
            misc_axes[n] = {0: "B"}
    emit(out, "misc", randomize(Misc(), 8),
         [(randn(1, 8, 6, 6, seed=19), randint(0, 6, (1, 8, 2, 6), seed=20), randn(1, 8, 6, 6, seed=21)),
          (randn(3, 8, 6, 6, seed=22), randint(0, 6, (3, 8, 2, 6), seed=23), randn(3, 8, 6, 6, seed=24))],
         ["x", "idx", "y"], misc_names, [12, 13, 17], misc_axes)

    llama_in = ["input_ids", "attention_mask", "past_key_0", "past_value_0", "past_key_1", "past_value_1"]
    llama_axes = {"input_ids": {0: "B", 1: "T"}, "attention_mask": {0: "B", 1: "PT"}, "logits": {0: "B", 1: "T"}}
    for n in llama_in[2:]:
        llama_axes[n] = {0: "B", 2: "P"}
    for n in kv_out[1:]:
        llama_axes[n] = {0: "B", 2: "PT"}

    def llama_set(b, t, p, seed, pad=0):
        mask = torch.ones(b, p + t, dtype=torch.long)
        if pad:
            mask[-1, :pad] = 0
        return (randint(0, 48, (b, t), seed=seed), mask) + tuple(randn(b, 2, p, 8, seed=seed + i) for i in range(4))

    llama_sets = [llama_set(1, 1, 6, 30), llama_set(2, 5, 2, 31, pad=3), llama_set(1, 4, 0, 32)]  # empty past
    emit(out, "llama", randomize(Llama(), 9), llama_sets, llama_in, kv_out, [14, 17], llama_axes)
    emit(out, "llama_nofold", randomize(Llama(), 9), llama_sets, llama_in, kv_out, [17], llama_axes, fold=False)
    # (repeat_interleave is left out: torch 1.13 exports it with a Reshape whose 0 copies the wrong axis)

    def bert_set(b, t, seed, lens):
        mask = torch.zeros(b, t, dtype=torch.long)
        for i, l in enumerate(lens):
            mask[i, :l] = 1
        tt = torch.zeros(b, t, dtype=torch.long)
        tt[:, t // 2:] = 1
        return randint(1, 50, (b, t), seed=seed) * mask, mask, tt

    bert_axes = {n: {0: "B", 1: "T"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]}
    bert_axes["pooler_output"] = {0: "B"}
    emit(out, "bert", randomize(Bert(), 11), [bert_set(1, 8, 32, [8]), bert_set(3, 11, 33, [11, 5, 7]),
                                      bert_set(8, 40, 65, [40, 1, 20, 33, 40, 39, 2, 17])],
         ["input_ids", "attention_mask", "token_type_ids"], ["last_hidden_state", "pooler_output"], [11, 14, 17],
         bert_axes)
    emit(out, "bert_nofold", randomize(Bert(), 11), [bert_set(1, 8, 32, [8]), bert_set(3, 11, 33, [11, 5, 7])],
         ["input_ids", "attention_mask", "token_type_ids"], ["last_hidden_state", "pooler_output"], [13],
         bert_axes, fold=False)

    def t5_set(b, s, t, seed, lens):
        mask = torch.zeros(b, s, dtype=torch.long)
        for i, l in enumerate(lens):
            mask[i, :l] = 1
        return randint(0, 40, (b, s), seed=seed), mask, randint(0, 40, (b, t), seed=seed + 1)

    emit(out, "t5", randomize(T5(), 12), [t5_set(1, 9, 4, 34, [9]), t5_set(2, 13, 7, 36, [13, 6])],
         ["input_ids", "attention_mask", "decoder_input_ids"], ["logits"], [13, 17],
         {"input_ids": {0: "B", 1: "S"}, "attention_mask": {0: "B", 1: "S"}, "decoder_input_ids": {0: "B", 1: "T"},
          "logits": {0: "B", 1: "T"}})
    emit(out, "vit", randomize(ViT(), 13), [(randn(1, 3, 16, 16, seed=38),), (randn(3, 3, 16, 16, seed=39),)],
         ["pixel_values"], ["logits", "pool_weights"], [13, 17], {"pixel_values": {0: "B"}, "logits": {0: "B"},
                                                                 "pool_weights": {0: "B"}})
    emit(out, "conformer", randomize(Conformer(), 14),
         [(randn(1, 40, 16, seed=40), torch.tensor([40])), (randn(3, 29, 16, seed=41), torch.tensor([29, 17, 25]))],
         ["features", "lengths"], ["log_probs", "out_lengths"], [13, 17],
         {"features": {0: "B", 1: "T"}, "lengths": {0: "B"}, "log_probs": {0: "B", 1: "T2"}, "out_lengths": {0: "B"}})
    m2_out = ["acts", "conv"] + [f"pool{i}" for i in range(4)] + [f"resize{i}" for i in range(6)] + \
        [f"reduce{i}" for i in range(12)] + [f"int{i}" for i in range(12)] + ["shape_ops", "f64", "cast"]
    emit(out, "misc2", randomize(Misc2(), 15),
         [(randn(1, 8, 7, 9, seed=42), randint(-9, 9, (1, 5), seed=43)),
          (randn(2, 8, 7, 9, seed=44), randint(-9, 9, (2, 5), seed=45))],
         ["x", "n"], m2_out, [14, 17], {"x": {0: "B"}, "n": {0: "B"}, **{o: {0: "B"} for o in m2_out
                                                                         if o not in ("reduce10",)}})
    emit(out, "packed_lstm", randomize(PackedLSTM(), 16),
         [(randn(3, 6, 12, seed=46), torch.tensor([6, 4, 2]), randn(1, 3, 8, seed=47)),
          (randn(3, 9, 12, seed=48), torch.tensor([9, 9, 5]), randn(1, 3, 8, seed=49))],  # the exporter bakes B
         ["x", "lengths", "h0"], ["y", "h", "c", "g", "hg"], [11, 17],
         {"x": {0: "B", 1: "T"}, "lengths": {0: "B"}, "h0": {1: "B"}, "y": {0: "B", 1: "T"}, "h": {1: "B"},
          "c": {1: "B"}, "g": {0: "B", 1: "T"}, "hg": {1: "B"}})
    emit(out, "scripted_loop", torch.jit.script(randomize(ScriptedLoop(), 17)),
         [(randn(5, 2, 8, seed=50),), (randn(3, 4, 8, seed=51),)], ["x"], ["seq", "h"], [13, 17],
         {"x": {0: "T", 1: "B"}, "seq": {0: "T", 1: "B"}, "h": {0: "B"}})

    m3_out = ["cols", "mp", "ind", "unpool", "one_hot", "baddbmm", "min", "argmin", "clamp", "round", "logic",
              "gather", "adv_index", "index_put", "split", "einsum", "same", "tcn", "avg1d", "max1d", "adapt1d",
              "conv3d", "trilinear", "emb", "arange"]
    emit(out, "misc3", randomize(Misc3(), 18),
         [(randn(1, 4, 8, 8, seed=70), randn(1, 2, 4, 6, 6, seed=71), randint(0, 20, (1, 5), seed=72).to(torch.int32),
           torch.tensor([2, 0, 3])),
          (randn(2, 4, 8, 8, seed=73), randn(2, 2, 4, 6, 6, seed=74), randint(0, 20, (2, 5), seed=75).to(torch.int32),
           torch.tensor([1, 1, 3]))],
         ["x", "v", "ids", "sel"], m3_out, [13, 17],
         {"x": {0: "B"}, "v": {0: "B"}, "ids": {0: "B"}, **{o: {0: "B"} for o in m3_out if o != "arange"}})
    emit(out, "stn", randomize(SpatialTransformer(), 19), [(randn(1, 1, 16, 40, seed=76),), (randn(2, 1, 12, 30, seed=77),)],
         ["image"], ["bilinear_zeros", "nearest_border", "bilinear_reflection"], [16, 17],
         {"image": {0: "B", 2: "H", 3: "W"}, "bilinear_zeros": {0: "B", 2: "H", 3: "W"},
          "nearest_border": {0: "B", 2: "H", 3: "W"}, "bilinear_reflection": {0: "B", 2: "H", 3: "W"}})
    emit(out, "spectrogram", randomize(Spectrogram(), 20), [(randn(1, 400, seed=78),), (randn(2, 1000, seed=79),)],
         ["wav"], ["log_spec", "gru_out"], [17],
         {"wav": {0: "B", 1: "N"}, "log_spec": {0: "B", 2: "F"}, "gru_out": {0: "B", 1: "F"}})
    print("gen_torch_zoo: done")


if __name__ == "__main__":
    main()
