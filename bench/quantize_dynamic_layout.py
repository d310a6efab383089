#!/usr/bin/python3
"""Writes an fp32 ONNX model again in the layout ONNX Runtime's `quantize_dynamic` produces, so graft's int8
path can be measured against ONNX Runtime on the same file (ORT's quantizer itself is not installed here).

Every MatMul whose second operand is a constant 2-D float32 initializer becomes

    x -> DynamicQuantizeLinear -> (x_q uint8, x_scale, x_zp)
    MatMulInteger(x_q, W_q int8, x_zp, W_zp=0) -> Cast(float) -> Mul(x_scale * W_scale) -> (the MatMul's output)

with W_q = round(W / W_scale) symmetric int8: W_scale = max|W| / 127 per tensor, or per column with
--per-channel (a [N] scale and a [N] zero point). Other nodes are kept as they are.

    /usr/bin/python3 bench/quantize_dynamic_layout.py IN.onnx OUT.onnx [--per-channel]
"""
import argparse
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def quantize_weight(w, per_channel):
    amax = np.abs(w).max(axis=0) if per_channel else np.array(np.abs(w).max())
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def convert(model, per_channel):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes, dropped, added = [], set(), []
    count = 0
    for node in g.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if w is None or w.data_type != TensorProto.FLOAT or len(w.dims) != 2:
            new_nodes.append(node)
            continue
        count += 1
        base = node.name or f"matmul_{count}"
        x, y = node.input[0], node.output[0]
        q, scale = quantize_weight(numpy_helper.to_array(w), per_channel)
        wq, ws, wz = f"{base}_W_q", f"{base}_W_scale", f"{base}_W_zp"
        added += [numpy_helper.from_array(q, wq), numpy_helper.from_array(scale, ws),
                  numpy_helper.from_array(np.zeros(scale.shape, np.int8), wz)]
        dropped.add(w.name)
        xq, xs, xz = f"{base}_x_q", f"{base}_x_scale", f"{base}_x_zp"
        new_nodes += [
            helper.make_node("DynamicQuantizeLinear", [x], [xq, xs, xz], name=f"{base}_quant"),
            helper.make_node("MatMulInteger", [xq, wq, xz, wz], [f"{base}_int32"], name=f"{base}_MatMulInteger"),
            helper.make_node("Cast", [f"{base}_int32"], [f"{base}_float"], to=TensorProto.FLOAT, name=f"{base}_cast"),
            helper.make_node("Mul", [xs, ws], [f"{base}_scale"], name=f"{base}_scale_mul"),
            helper.make_node("Mul", [f"{base}_float", f"{base}_scale"], [y], name=f"{base}_output_scale"),
        ]
    # A weight still read by another node stays.
    still_read = {i for n in new_nodes for i in n.input}
    keep = [t for t in g.initializer if t.name not in dropped or t.name in still_read]
    del g.initializer[:]
    g.initializer.extend(keep + added)
    del g.node[:]
    g.node.extend(new_nodes)
    if not any(o.domain in ("", "ai.onnx") and o.version >= 11 for o in model.opset_import):
        raise SystemExit("the model's opset is below 11 (DynamicQuantizeLinear)")
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--per-channel", action="store_true", help="one scale per weight column")
    a = ap.parse_args()
    model = onnx.load(a.input)
    n = convert(model, a.per_channel)
    onnx.checker.check_model(model)
    tmp = a.output + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, a.output)
    print(f"{a.output}: {n} MatMuls quantized ({'per column' if a.per_channel else 'per tensor'})")


if __name__ == "__main__":
    main()
