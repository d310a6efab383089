#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses (fuzz/corpus/<harness>/), small valid inputs that reach
deep into each parser: the fuzzer mutates from there. Generated, never copied: models are built with
onnx.helper, tokenizers from made-up vocabularies, arrays with NumPy.

Usage: /usr/bin/python3 fuzz/gen_corpus.py [OUT_DIR]   (default: fuzz/corpus next to this script)
Needs Debian's python3-numpy and python3-onnx. The output is committed; rerun after changing it.
"""
import base64
import io
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- .npy ---------------------------------------------------------------------------------------------

def npy_bytes(a, version=None):
    b = io.BytesIO()
    if version is None:
        np.save(b, a)
    else:
        np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


def gen_npy():
    rng = np.random.default_rng(0)
    arrays = {
        "f32_2x3": rng.standard_normal((2, 3)).astype(np.float32),
        "f64_scalar": np.array(3.5),
        "i64_vec": np.arange(5, dtype=np.int64),
        "i32_3d": np.arange(24, dtype=np.int32).reshape(2, 3, 4),
        "u8_empty": np.zeros((0, 4), np.uint8),
        "bool": np.array([True, False, True]),
        "f16": rng.standard_normal(6).astype(np.float16),
        "u16_bf16_bits": np.array([0x3F80, 0x4000, 0xBF80], np.uint16),  # bfloat16 1, 2, -1 as NumPy stores them
        "i8_u32_u64": np.array([1, 2], np.uint64),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "big_endian_i1": np.array([1, -1], ">i1"),
    }
    for name, a in arrays.items():
        write("npy", name + ".npy", npy_bytes(a))
    write("npy", "v2_f32.npy", npy_bytes(np.ones((2, 2), np.float32), version=(2, 0)))
    write("npy", "v3_i16.npy", npy_bytes(np.ones(3, np.int16), version=(3, 0)))


# ---- tokenizer.json + NUL + text --------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TEXT = "Hello world! Ça va? 東京 42 tokens\u00e9\u0301 \U0001F600 don't stop-now"


def bytes_to_unicode():
    # GPT-2's reversible byte -> printable character map (the published algorithm, rewritten here).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tok_bpe_bytelevel():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: i for i, b in enumerate(range(256))}
    merges = []
    for pair in ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "t o", "k e"]:
        a, b = pair.split(" ")
        merges.append(pair)
        vocab.setdefault(a + b, len(vocab))
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": len(vocab), "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": merges},
    }


def tok_wordpiece():
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "!", "?", "ca", "va", "##s", "##ing",
             "token", "don", "'", "t", "stop", "-", "now", "4", "##2", "東", "京"] + list(LETTERS)
    vocab = {w: i for i, w in enumerate(words)}
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 16, "strategy": "LongestFirst", "stride": 2},
        "padding": {"strategy": {"Fixed": 20}, "direction": "Right", "pad_to_multiple_of": None, "pad_id": 0,
                    "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [{"id": i, "content": w, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, w in enumerate(words[:5])],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def charsmap_blob(mapping):
    """SentencePiece's precompiled charsmap for `mapping` (str -> str): u32 byte size of a darts-clone
    double-array trie over the UTF-8 keys, the trie's units, then a pool of NUL-terminated replacements.
    A unit holds a label (low 8 bits), a has-leaf flag (bit 8) and the XOR offset to its children (bits
    10..); a leaf unit (bit 31 set) holds the value, here the replacement's offset in the pool."""
    pool, values = b"", {}
    for k, v in mapping.items():
        values[k.encode()] = len(pool)
        pool += v.encode() + b"\0"
    trie = {}  # prefix bytes -> set of next bytes
    for key in values:
        for i in range(len(key)):
            trie.setdefault(key[:i], set()).add(key[i])
    units, pos_of = {}, {b"": 0}

    def place(prefix):
        node = pos_of[prefix]
        labels = sorted(trie.get(prefix, ()))
        slots = labels + ([0] if prefix in values else [])
        offset = 1
        while any((node ^ offset ^ c) in units or (node ^ offset ^ c) == 0 for c in slots):
            offset += 1
        units[node] = units.get(node, 0) | (offset << 10) | (256 if prefix in values else 0)
        if prefix in values:
            units[node ^ offset] = (1 << 31) | values[prefix]
        for c in labels:
            pos_of[prefix + bytes([c])] = node ^ offset ^ c
            units[node ^ offset ^ c] = c
        for c in labels:
            place(prefix + bytes([c]))

    units[0] = 0
    place(b"")
    size = max(units) + 1
    arr = b"".join(struct.pack("<I", units.get(i, 0)) for i in range(size))
    return struct.pack("<I", len(arr)) + arr + pool


def tok_unigram():
    pieces = [["<unk>", 0.0], ["▁", -2.0], ["▁hello", -3.0], ["▁world", -3.5], ["!", -4.0], ["o", -5.0],
              ["l", -5.0], ["h", -5.5], ["e", -5.5], ["w", -6.0], ["r", -6.0], ["d", -6.0]] + \
             [[c, -8.0] for c in LETTERS]
    blob = charsmap_blob({"\uff21": "A", "\ufb01": "fi", "\u00e9": "e\u0301", "\u3000": " "})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(blob).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "NFKC"}, {"type": "Strip", "strip_left": True, "strip_right": True}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<unk>", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<unk>": {"id": "<unk>", "ids": [0], "tokens": ["<unk>"]}}},
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 0, "vocab": pieces, "byte_fallback": False},
    }


def tok_misc():
    # WordLevel with a sequence of pre-tokenizers, the Roberta post-processor and a decoder sequence.
    words = ["<s>", "</s>", "<unk>", "<pad>", "hello", "world", "!", "42", "Ġhello"]
    return {
        "version": "1.0",
        "added_tokens": [{"id": 3, "content": "<pad>", "single_word": True, "lstrip": True, "rstrip": True,
                          "normalized": True, "special": False}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
                                                            {"type": "Lowercase"}, {"type": "Prepend", "prepend": "_"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"},
            {"type": "Digits", "individual_digits": True},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed", "invert": False},
            {"type": "CharDelimiterSplit", "delimiter": "'"}]},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0], "trim_offsets": True,
                           "add_prefix_space": True},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "_"}, "content": " "},
                                                      {"type": "ByteFallback"}, {"type": "Fuse"},
                                                      {"type": "Strip", "content": " ", "start": 1, "stop": 0},
                                                      {"type": "CTC", "pad_token": "<pad>", "word_delimiter_token": "|",
                                                       "cleanup": True}]},
        "model": {"type": "WordLevel", "vocab": {w: i for i, w in enumerate(words)}, "unk_token": "<unk>"},
    }


def tok_bpe_fallback():
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for w in ["▁", "h", "e", "l", "o", "▁h", "▁he", "ll", "▁hell", "▁hello", "w", "r", "d"]:
        vocab.setdefault(w, len(vocab))
    return {
        "version": "1.0",
        "added_tokens": [{"id": 1, "content": "<s>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "BertProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1]},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                      {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                  "ignore_merges": False, "vocab": vocab,
                  "merges": [["▁", "h"], ["▁h", "e"], ["l", "l"], ["▁he", "ll"], ["▁hell", "o"]]},
    }


def gen_tokenizers():
    for name, tok in [("bpe_bytelevel", tok_bpe_bytelevel()), ("wordpiece_bert", tok_wordpiece()),
                      ("unigram_precompiled", tok_unigram()), ("wordlevel_misc", tok_misc()),
                      ("bpe_byte_fallback", tok_bpe_fallback())]:
        text = json.dumps(tok, ensure_ascii=False, separators=(",", ":"))
        write("tokenizer", name, text.encode() + b"\0" + TEXT.encode() + b"\x07")
        write("tokenizer", name + "_bad_utf8", text.encode() + b"\0" + b"ab\xff\xfe c\xc3" + b"\x03")


# ---- checkpoint: safetensors + separator + JSON -----------------------------------------------------

SEPARATOR = b"\n#graft-checkpoint-json#\n"


def safetensors(tensors, metadata=None):
    header, data, off = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, arr in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def gen_checkpoints():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    meta = {"format": "graft-checkpoint", "version": 1,
            "variables": [{"name": "/w", "trainable": True, "origin": ""},
                          {"name": "/step", "trainable": False, "origin": "optimizer"}],
            "extra": {"step": 1}, "hparams": {"lr": 0.001, "name": "adam", "warm": True, "steps": 10}}
    st = safetensors([("/w", "F32", w), ("/step", "I64", np.array([1], np.int64))],
                     {"format": "pt", "producer": "graft"})
    write("checkpoint", "graft_ckpt", st + SEPARATOR + json.dumps(meta).encode())
    st2 = safetensors([("w", "F32", np.ones((2, 3), np.float32)), ("b", "BF16", np.array([0x3F80], np.uint16)),
                       ("m", "BOOL", np.array([1, 0], np.uint8)), ("h", "F16", np.ones(2, np.float16)),
                       ("e", "U8", np.zeros((0,), np.uint8))])
    write("checkpoint", "mixed_dtypes", st2 + SEPARATOR + json.dumps(
        {"format": "graft-checkpoint", "version": 1, "variables": [{"name": "w"}], "extra": {}}).encode())
    write("checkpoint", "no_json", st)


# ---- ONNX models ------------------------------------------------------------------------------------

def model(nodes, inputs, outputs, inits=(), opset=17, functions=(), name="m", extra_opsets=()):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)] + list(extra_opsets),
                          functions=list(functions))
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


F = TensorProto.FLOAT
I64 = TensorProto.INT64


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def gen_onnx():
    rng = np.random.default_rng(1)
    n = helper.make_node
    models = {}
    models["add_relu"] = model([n("Add", ["x", "y"], ["s"]), n("Relu", ["s"], ["z"])],
                               [vi("x", F, ["N", 3]), vi("y", F, [3])], [vi("z", F, ["N", 3])])
    models["matmul_softmax"] = model(
        [n("MatMul", ["x", "w"], ["h"]), n("Softmax", ["h"], ["z"], axis=-1)],
        [vi("x", F, [2, 4])], [vi("z", F, [2, 3])], [const("w", rng.standard_normal((4, 3)).astype(np.float32))])
    models["reshape_from_shape"] = model(
        [n("Shape", ["x"], ["s"]), n("Gather", ["s", "i0"], ["d0"], axis=0), n("Unsqueeze", ["d0", "ax"], ["d0u"]),
         n("Concat", ["d0u", "m1"], ["t"], axis=0), n("Reshape", ["x", "t"], ["z"])],
        [vi("x", F, ["B", 2, 3])], [vi("z", F, ["B", 6])],
        [const("i0", np.array(0, np.int64)), const("ax", np.array([0], np.int64)), const("m1", np.array([-1], np.int64))])
    models["constant_of_shape_expand_tile_range"] = model(
        [n("ConstantOfShape", ["shp"], ["c"], value=numpy_helper.from_array(np.array([1.5], np.float32))),
         n("Expand", ["x", "shp"], ["e"]), n("Add", ["c", "e"], ["s"]), n("Tile", ["s", "reps"], ["t"]),
         n("Range", ["r0", "r1", "r2"], ["r"]), n("Cast", ["r"], ["rf"], to=F), n("ReduceSum", ["t"], ["z0"], keepdims=0),
         n("Add", ["z0", "rf"], ["z"])],
        [vi("x", F, [1, 3])], [vi("z", F, [3])],
        [const("shp", np.array([2, 3], np.int64)), const("reps", np.array([2, 1], np.int64)),
         const("r0", np.array(0, np.int64)), const("r1", np.array(3, np.int64)), const("r2", np.array(1, np.int64))])
    models["conv_pool_bn"] = model(
        [n("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
         n("BatchNormalization", ["c", "g", "be", "mu", "var"], ["bn"]), n("Relu", ["bn"], ["r"]),
         n("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         n("GlobalAveragePool", ["p"], ["z"])],
        [vi("x", F, [1, 2, 6, 6])], [vi("z", F, [1, 3, 1, 1])],
        [const("w", rng.standard_normal((3, 2, 3, 3)).astype(np.float32)), const("b", np.zeros(3, np.float32)),
         const("g", np.ones(3, np.float32)), const("be", np.zeros(3, np.float32)),
         const("mu", np.zeros(3, np.float32)), const("var", np.ones(3, np.float32))])
    models["resize_slice_transpose"] = model(
        [n("Resize", ["x", "", "sc"], ["r"], mode="linear"), n("Slice", ["r", "st", "en", "axs"], ["s"]),
         n("Transpose", ["s"], ["z"], perm=[0, 1, 3, 2])],
        [vi("x", F, [1, 1, 3, 4])], [vi("z", F, None)],
        [const("sc", np.array([1, 1, 2, 2], np.float32)), const("st", np.array([1], np.int64)),
         const("en", np.array([5], np.int64)), const("axs", np.array([2], np.int64))])
    # If whose condition is known while tracing and whose branches give different ranks (Silero VAD's pattern),
    # nested in an If with a run-time condition.
    then_inner = helper.make_graph([n("Unsqueeze", ["x", "ax0"], ["o"])], "then_inner", [], [vi("o", F, None)])
    else_inner = helper.make_graph([n("Identity", ["x"], ["o"])], "else_inner", [], [vi("o", F, None)])
    outer_then = helper.make_graph(
        [n("Shape", ["x"], ["sh"]), n("Size", ["sh"], ["rk"]), n("Equal", ["rk", "two"], ["eq"]),
         n("Not", ["eq"], ["cond"]), n("If", ["cond"], ["o"], then_branch=then_inner, else_branch=else_inner)],
        "outer_then", [], [vi("o", F, None)])
    outer_else = helper.make_graph([n("Neg", ["x"], ["o2"]), n("Unsqueeze", ["o2", "ax0"], ["o"])], "outer_else", [],
                                   [vi("o", F, None)])
    models["nested_if_ranks"] = model(
        [n("ReduceSum", ["x"], ["sm"], keepdims=0), n("Greater", ["sm", "zero"], ["c"]),
         n("If", ["c"], ["y"], then_branch=outer_then, else_branch=outer_else)],
        [vi("x", F, [2, 3])], [vi("y", F, None)],
        [const("ax0", np.array([0], np.int64)), const("two", np.array(2, np.int64)), const("zero", np.array(0, np.float32))])
    body = helper.make_graph(
        [n("Add", ["acc", "x"], ["acc2"]), n("Identity", ["cond"], ["cond2"]), n("Mul", ["acc2", "two"], ["scan"])],
        "body", [vi("i", I64, []), vi("cond", TensorProto.BOOL, []), vi("acc", F, [3])],
        [vi("cond2", TensorProto.BOOL, []), vi("acc2", F, [3]), vi("scan", F, [3])])
    models["loop_known_trip"] = model(
        [n("Loop", ["M", "", "a0"], ["a", "scans"], body=body)],
        [vi("x", F, [3]), vi("a0", F, [3])], [vi("a", F, [3]), vi("scans", F, None)],
        [const("M", np.array(3, np.int64)), const("two", np.array(2, np.float32))])
    models["loop_runtime_trip"] = model(
        [n("Loop", ["M", "", "a0"], ["a"], body=helper.make_graph(
            [n("Add", ["acc", "x"], ["acc2"]), n("Identity", ["cond"], ["cond2"])], "body",
            [vi("i", I64, []), vi("cond", TensorProto.BOOL, []), vi("acc", F, [3])],
            [vi("cond2", TensorProto.BOOL, []), vi("acc2", F, [3])]))],
        [vi("M", I64, []), vi("x", F, [3]), vi("a0", F, [3])], [vi("a", F, [3])])
    scan_body = helper.make_graph([n("Add", ["s", "xi"], ["s2"]), n("Identity", ["s2"], ["yi"])], "scan_body",
                                  [vi("s", F, [2]), vi("xi", F, [2])], [vi("s2", F, [2]), vi("yi", F, [2])])
    models["scan"] = model([n("Scan", ["s0", "xs"], ["s", "ys"], body=scan_body, num_scan_inputs=1)],
                           [vi("s0", F, [2]), vi("xs", F, [4, 2])], [vi("s", F, [2]), vi("ys", F, [4, 2])])
    H = 3
    models["lstm"] = model(
        [n("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "yh", "yc"], hidden_size=H)],
        [vi("x", F, [2, 1, 4]), vi("h0", F, [1, 1, H]), vi("c0", F, [1, 1, H])], [vi("y", F, None), vi("yh", F, None)],
        [const("W", rng.standard_normal((1, 4 * H, 4)).astype(np.float32)),
         const("R", rng.standard_normal((1, 4 * H, H)).astype(np.float32)),
         const("B", np.zeros((1, 8 * H), np.float32))])
    models["gather_topk_where_cast"] = model(
        [n("Gather", ["x", "idx"], ["g"], axis=1), n("TopK", ["g", "k"], ["v", "i"], axis=-1),
         n("Greater", ["v", "zero"], ["m"]), n("Where", ["m", "v", "zero"], ["w"]),
         n("Cast", ["w"], ["h"], to=TensorProto.FLOAT16), n("Cast", ["h"], ["z"], to=F), n("Cast", ["i"], ["zi"], to=TensorProto.INT32)],
        [vi("x", F, [2, 5]), vi("idx", I64, [3])], [vi("z", F, None), vi("zi", TensorProto.INT32, None)],
        [const("k", np.array([2], np.int64)), const("zero", np.array(0, np.float32))])
    models["nonzero_compress"] = model(
        [n("NonZero", ["x"], ["nz"]), n("Shape", ["nz"], ["s"]), n("Cast", ["s"], ["sf"], to=F),
         n("Compress", ["x", "c"], ["z"], axis=0)],
        [vi("x", F, [4]), vi("c", TensorProto.BOOL, [4])], [vi("z", F, None), vi("sf", F, None)])
    models["layernorm_gelu_attention"] = model(
        [n("LayerNormalization", ["x", "g", "b"], ["ln"], axis=-1, epsilon=1e-5),
         n("MatMul", ["ln", "wq"], ["q"]), n("Transpose", ["q"], ["qt"], perm=[0, 2, 1]), n("MatMul", ["q", "qt"], ["s"]),
         n("Softmax", ["s"], ["p"], axis=-1), n("MatMul", ["p", "q"], ["a"]),
         n("Erf", ["a"], ["e"]), n("Add", ["e", "a"], ["z"])],
        [vi("x", F, [1, "S", 4])], [vi("z", F, None)],
        [const("g", np.ones(4, np.float32)), const("b", np.zeros(4, np.float32)),
         const("wq", rng.standard_normal((4, 4)).astype(np.float32))])
    models["einsum_cumsum_pad_split"] = model(
        [n("Einsum", ["x", "x"], ["e"], equation="ij,kj->ik"), n("CumSum", ["e", "ax"], ["c"]),
         n("Pad", ["c", "pads"], ["p"], mode="reflect"), n("Split", ["p", "sp"], ["a", "b"], axis=1),
         n("Concat", ["b", "a"], ["z"], axis=1)],
        [vi("x", F, [3, 2])], [vi("z", F, None)],
        [const("ax", np.array(1, np.int64)), const("pads", np.array([0, 1, 0, 1], np.int64)),
         const("sp", np.array([2, 3], np.int64))], opset=17)
    fn = helper.make_function("local", "Twice", ["a"], ["b"], [n("Add", ["a", "a"], ["b"])],
                              [helper.make_opsetid("", 17)])
    models["local_function"] = model([n("Twice", ["x"], ["z"], domain="local")], [vi("x", F, [2])], [vi("z", F, [2])],
                                     functions=[fn], extra_opsets=[helper.make_opsetid("local", 1)])
    # Nodes out of topological order (a converted model's input Cast listed last).
    models["unsorted_nodes"] = model(
        [n("Relu", ["xc"], ["r"]), n("Add", ["r", "xc"], ["z"]), n("Cast", ["x"], ["xc"], to=F)],
        [vi("x", TensorProto.FLOAT16, [2, 2])], [vi("z", F, [2, 2])])
    models["sequence_ops"] = model(
        [n("SplitToSequence", ["x"], ["sq"], axis=0), n("SequenceAt", ["sq", "one"], ["e"]),
         n("SequenceLength", ["sq"], ["ln"]), n("ConcatFromSequence", ["sq"], ["c"], axis=1)],
        [vi("x", F, [3, 2])], [vi("e", F, None), vi("ln", I64, None), vi("c", F, None)],
        [const("one", np.array(1, np.int64))])
    for name, b in models.items():
        write("onnx", name + ".onnx", b)


# ---- Hub responses ----------------------------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHA = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"  # sha256("foo")


def gen_hub():
    cases = {
        "regular_file": [
            "download main config.json",
            f"200\nX-Repo-Commit: {COMMIT}\nETag: \"abcdef0123456789abcdef0123456789abcdef01\"\nContent-Length: 2\n\n{{}}",
            "200\n\n{}",
        ],
        "lfs_redirect": [
            "download main onnx/model.onnx",
            f"302\nLocation: $BASE/cdn/{SHA}\nX-Repo-Commit: {COMMIT}\nX-Linked-Etag: \"{SHA}\"\nX-Linked-Size: 3\n\n",
            "200 ranges\n\nfoo",
        ],
        "lfs_resume_partial": [
            f"download {COMMIT} weights.bin",
            f"302\nLocation: /cdn/{SHA}\nX-Repo-Commit: {COMMIT}\nX-Linked-Etag: {SHA}\nX-Linked-Size: 3\n\n",
            "200 cut=1\n\nfoo",
            "206\nContent-Range: bytes 1-2/3\n\noo",
        ],
        "renamed_repo": [
            "download main a.txt",
            "307\nLocation: /org/new/resolve/main/a.txt\n\n",
            f"200\nX-Repo-Commit: {COMMIT}\nETag: W/\"1234\"\n\nhi",
            "200\n\nhi",
        ],
        "not_found": [
            "download main missing.txt",
            f"404\nX-Error-Code: EntryNotFound\nX-Repo-Commit: {COMMIT}\nX-Error-Message: Entry not found\n\n{{\"error\":\"x\"}}",
        ],
        "gated": ["download main a.txt", "403\nX-Error-Code: GatedRepo\nX-Error-Message: Access restricted\n\n"],
        "server_error": ["download main a.txt", "503\nRetry-After: 1\n\n", "500\n\n"],
        "api_commit": ["commit main", f"200\nContent-Type: application/json\n\n{{\"sha\":\"{COMMIT}\",\"siblings\":[]}}"],
        "api_list": ["list v1.0",
                     f"200\n\n{{\"sha\":\"{COMMIT}\",\"siblings\":[{{\"rfilename\":\"a.txt\"}},{{\"rfilename\":\"b/c.bin\"}}]}}"],
        "download_all": ["download_all main",
                         f"200\n\n{{\"sha\":\"{COMMIT}\",\"siblings\":[{{\"rfilename\":\"a.txt\"}}]}}",
                         f"200\nX-Repo-Commit: {COMMIT}\nETag: \"aa\"\nContent-Length: 2\n\n",
                         "200\n\nhi"],
    }
    for name, parts in cases.items():
        write("hub", name, "\n@@@\n".join(parts))


if __name__ == "__main__":
    gen_npy()
    gen_tokenizers()
    gen_checkpoints()
    gen_onnx()
    gen_hub()
    print("seed corpora written to", OUT)
