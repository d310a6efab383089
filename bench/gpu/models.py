"""The models of the GPU benchmark, built with PyTorch on the GPU machine (random weights, nothing
downloaded): BERT-style encoders (post-LN, exact GELU, learned positions, as BERT and MiniLM are) and
torchvision's ResNet-50. The same module is timed in PyTorch (attention through
F.scaled_dot_product_attention) and exported to ONNX for graft (attention written out, which the
exporters turn into MatMul/Softmax; graft imports that)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

SIZES = {
    # name: (layers, hidden, heads, ffn)
    "bert_base": (12, 768, 12, 3072),
    "minilm": (6, 384, 12, 1536),
}
VOCAB, POSITIONS, TYPES = 30522, 512, 2


class Layer(nn.Module):
    def __init__(self, d, h, f):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d, eps=1e-12)
        self.ff1 = nn.Linear(d, f)
        self.ff2 = nn.Linear(f, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-12)
        self.explicit_attention = False  # set for export

    def forward(self, x, bias):
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        if self.explicit_attention:
            scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.h) + bias
            a = torch.softmax(scores, -1) @ v
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = self.ln1(x + self.out(a.transpose(1, 2).reshape(b, s, d)))
        return self.ln2(x + self.ff2(F.gelu(self.ff1(x))))


class Encoder(nn.Module):
    def __init__(self, name):
        super().__init__()
        n, d, h, f = SIZES[name]
        self.word, self.pos, self.types = nn.Embedding(VOCAB, d), nn.Embedding(POSITIONS, d), nn.Embedding(TYPES, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(Layer(d, h, f) for _ in range(n))
        self.hidden = d

    def forward(self, input_ids, attention_mask, token_type_ids):
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        x = self.ln(self.word(input_ids) + self.pos(pos) + self.types(token_type_ids))
        bias = ((1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0)
        for layer in self.layers:
            x = layer(x, bias)
        return x

    def set_explicit_attention(self, on):
        for layer in self.layers:
            layer.explicit_attention = on


def encoder(name, device):
    torch.manual_seed(0)
    return Encoder(name).to(device).eval()


def resnet50(device):
    import torchvision
    torch.manual_seed(0)
    return torchvision.models.resnet50(weights=None).to(device).eval()


def token_inputs(batch, seq, device):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 21000, (batch, seq), generator=g).to(device)
    return ids, torch.ones_like(ids), torch.zeros_like(ids)


def export(model, args, names, path):
    """ONNX export, opset 17: the TorchScript exporter where this PyTorch still has it, else dynamo."""
    kw = dict(input_names=names, output_names=["output"], opset_version=17)
    try:
        torch.onnx.export(model, args, path, dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(model, args, path, **kw)
    except Exception as e:  # noqa: BLE001 - report and try the other exporter
        print(f"  TorchScript export failed ({type(e).__name__}: {e}); trying dynamo=True", flush=True)
        torch.onnx.export(model, args, path, dynamo=True, external_data=False, **kw)
