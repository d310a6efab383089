#!/usr/bin/env python3
"""graft against PyTorch on one GPU, in one run: BERT-base-like and MiniLM-like encoders at b32 x s128 in
fp32 and bf16 (PyTorch: autocast; graft: CompileOptions::precision = BF16, products in bf16 with f32
accumulation), a MiniLM-like encoder + mean pooling + linear head AdamW train step (fp32), and ResNet-50
at b32 (fp32). Models are built here with PyTorch (bench/gpu/models.py) and exported to ONNX for graft;
PyTorch is timed with CUDA events (median after warm-up), graft by bench_gpu (median of synchronized
runs after warm-up).

    python3 bench/gpu/run_bench.py BENCH_GPU_BINARY WORK_DIR OUT_DIR [--quick]

Exports the models into WORK_DIR; writes OUT_DIR/bench.md (the table) and OUT_DIR/bench.json; prints the
table last.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

binary, work_dir, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
quick = "--quick" in sys.argv
dev = "cuda"
WARM, RUNS = (3, 10) if quick else (10, 30)
os.makedirs(work_dir, exist_ok=True)
os.makedirs(out_dir, exist_ok=True)
rows = []


def cuda_median_ms(fn, warm=WARM, runs=RUNS):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def graft(*args, timeout=240):
    t0 = time.time()
    p = subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        print(p.stdout[-2000:], p.stderr[-4000:], flush=True)
        return {"error": (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:300]}
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["wall_s"] = round(time.time() - t0, 1)
    return r


def add(name, torch_ms, g, target=None, note=""):
    gm = g.get("median_ms")
    rows.append({"benchmark": name, "pytorch_ms": torch_ms, "graft_ms": gm,
                 "ratio": (gm / torch_ms) if gm and torch_ms else None, "target_ms": target,
                 "graft": g, "note": note})
    print(f"{name}: pytorch {torch_ms} ms, graft {gm} ms {g.get('error', '')}", flush=True)


def encoder_rows(name, targets):
    B, S = 32, 128
    m = models.encoder(name, dev)
    ids, mask, types = models.token_inputs(B, S, dev)
    path = os.path.join(work_dir, f"{name}.onnx")
    m.set_explicit_attention(True)
    with torch.no_grad():
        models.export(m, (ids, mask, types), ["input_ids", "attention_mask", "token_type_ids"], path)
    m.set_explicit_attention(False)
    with torch.no_grad():
        t32 = cuda_median_ms(lambda: m(ids, mask, types))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            t16 = cuda_median_ms(lambda: m(ids, mask, types))
    add(f"{name} b{B}xs{S} fp32 inference", t32, graft("infer", path, B, S, "f32", RUNS), targets.get("f32"))
    add(f"{name} b{B}xs{S} bf16 inference", t16, graft("infer", path, B, S, "bf16", RUNS), targets.get("bf16"))
    return path


def train_row(path):
    B, S = 32, 128
    m = models.encoder("minilm", dev).train()
    head = torch.nn.Linear(m.hidden, 2).to(dev)
    params = list(m.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    ids, mask, types = models.token_inputs(B, S, dev)
    labels = (torch.arange(B, device=dev) % 2)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(head(m(ids, mask, types).mean(1)), labels)
        loss.backward()
        opt.step()

    t = cuda_median_ms(step)
    add(f"minilm b{B}xs{S} + head AdamW train step (fp32)", t, graft("train", path, B, S, RUNS), 10.0)


def resnet_row():
    B = 32
    m = models.resnet50(dev)
    x = torch.randn(B, 3, 224, 224, device=dev)
    path = os.path.join(work_dir, "resnet50.onnx")
    with torch.no_grad():
        models.export(m, (x,), ["input"], path)
        t = cuda_median_ms(lambda: m(x))
    add(f"resnet50 b{B} fp32 inference", t, graft("infer", path, B, 0, "f32", RUNS), None, "target: <= PyTorch eager")


if not torch.cuda.is_available():
    sys.exit(f"run_bench: PyTorch {torch.__version__} sees no CUDA GPU")
print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}", flush=True)
for what in (lambda: encoder_rows("minilm", {"f32": 3.6}),
             lambda: encoder_rows("bert_base", {"f32": 15.0, "bf16": 2.9}),
             lambda: train_row(os.path.join(work_dir, "minilm.onnx")),
             resnet_row):
    try:
        what()
    except Exception as e:  # noqa: BLE001 - one failed benchmark must not hide the others
        print(f"benchmark failed: {type(e).__name__}: {e}", flush=True)
        rows.append({"benchmark": getattr(what, "__name__", "?"), "error": f"{type(e).__name__}: {e}"[:300]})

lines = [f"GPU: {torch.cuda.get_device_name()}, PyTorch {torch.__version__} (eager; bf16 = autocast)", "",
         "| benchmark | PyTorch ms | graft ms | graft / PyTorch | target ms | graft compile ms |",
         "|---|---|---|---|---|---|"]
for r in rows:
    if "graft" not in r:
        lines.append(f"| {r['benchmark']} | failed: {r.get('error')} | | | | |")
        continue
    g = r["graft"]
    f = lambda v, p=3: "" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines.append(f"| {r['benchmark']} | {f(r['pytorch_ms'])} | {f(r['graft_ms']) or 'error: ' + g.get('error', '')} | "
                 f"{f(r['ratio'], 2)} | {f(r['target_ms'], 1) or r['note']} | {f(g.get('compile_ms'), 0)} |")
table = "\n".join(lines)
open(os.path.join(out_dir, "bench.md"), "w").write(table + "\n")
json.dump(rows, open(os.path.join(out_dir, "bench.json"), "w"), indent=1, default=str)
print("\n" + table)
