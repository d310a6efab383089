#!/usr/bin/python3
"""PyTorch train-step time for a BERT-style encoder of MiniLM's sizes (6 layers, hidden 384, 12 heads,
FFN 1536, vocab 30522, 512 positions, 2 token types; post-LN like BERT, exact GELU, dropout off) + mean
pooling + a linear head, cross-entropy, torch.optim.AdamW (lr 1e-5, weight decay 0.01). The weights are
random (loading the ONNX initializers into torch is not attempted): the time depends on the sizes only.

  /usr/bin/python3 bench/torch_train_step.py [BATCH=32] [SEQ=128] [STEPS=5] [THREADS=2]

Prints each step and a final JSON line with median_ms.
"""
import json
import statistics
import sys
import time

import torch
from torch import nn

batch, seq, steps, threads = (int(a) for a in (sys.argv[1:] + ["32", "128", "5", "2"][len(sys.argv) - 1:])[:4])
torch.set_num_threads(threads)
torch.manual_seed(0)
V, P, T, D, H, F, N, C = 30522, 512, 2, 384, 12, 1536, 6, 2


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.word, self.pos, self.tok_type = nn.Embedding(V, D), nn.Embedding(P, D), nn.Embedding(T, D)
        self.ln = nn.LayerNorm(D, eps=1e-12)
        layer = nn.TransformerEncoderLayer(D, H, F, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=False, layer_norm_eps=1e-12)
        self.layers = nn.TransformerEncoder(layer, N, enable_nested_tensor=False)
        self.head = nn.Linear(D, C)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])[None, :]
        x = self.ln(self.word(ids) + self.pos(pos) + self.tok_type(torch.zeros_like(ids)))
        h = self.layers(x)
        return self.head(h.mean(1))


model = Encoder().train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
g = torch.Generator().manual_seed(1)
ids = torch.randint(1000, 21000, (batch, seq), generator=g)
labels = torch.arange(batch) % C
params = sum(p.numel() for p in model.parameters())


def step():
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(ids), labels)
    loss.backward()
    opt.step()
    return loss.item()


t0 = time.perf_counter()
l0 = step()
print("torch %s: parameters %d, first step %.0f ms, loss %.4f" % (torch.__version__, params, (time.perf_counter() - t0) * 1e3, l0))
times = []
for i in range(steps):
    t = time.perf_counter()
    loss = step()
    times.append((time.perf_counter() - t) * 1e3)
    print("torch step %d: %.1f ms, loss %.4f" % (i + 1, times[-1], loss), flush=True)
print(json.dumps({"batch": batch, "seq": seq, "threads": threads, "steps": steps,
                  "median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3)}))
