#!/usr/bin/env python3
"""Converts an f32 ONNX model to the float16 form browser/edge exports use: every f32 initializer and
Constant becomes f16, the f32 graph inputs are Cast to f16 on entry and the outputs Cast back to f32 (the
model's interface stays f32), and every f32 value inside becomes f16. For bench/fp16_cnn_vs_ort.sh; run
with Debian's /usr/bin/python3 (python3-onnx, numpy).
    fp16_convert.py IN.onnx OUT.onnx"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def to_f16(t):
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name)


def main(src, dst):
    m = onnx.load(src)
    g = m.graph
    inits = [to_f16(t) if t.data_type == TensorProto.FLOAT else t for t in g.initializer]
    del g.initializer[:]
    g.initializer.extend(inits)
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(to_f16(a.t))
        if n.op_type == "Cast":
            for a in n.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
    rename = {}
    cast_in = []
    for i in g.input:
        if i.type.tensor_type.elem_type == TensorProto.FLOAT:
            rename[i.name] = i.name + "_f16"
            cast_in.append(helper.make_node("Cast", [i.name], [i.name + "_f16"], to=TensorProto.FLOAT16))
    for n in g.node:
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
    cast_out = []
    for o in g.output:
        if o.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = o.name + "_f16"
            for n in g.node:
                for k, name in enumerate(n.output):
                    if name == o.name:
                        n.output[k] = inner
                for k, name in enumerate(n.input):
                    if name == o.name:
                        n.input[k] = inner
            cast_out.append(helper.make_node("Cast", [inner], [o.name], to=TensorProto.FLOAT))
    nodes = cast_in + list(g.node) + cast_out
    del g.node[:]
    g.node.extend(nodes)
    for v in g.value_info:
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.checker.check_model(m)
    onnx.save(m, dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
