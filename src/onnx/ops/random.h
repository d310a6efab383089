#pragma once
// Counter-based random numbers built from graft integer ops (there is no stateful RNG primitive): every
// element is a hash of (key, element index), so a draw is a pure function of its key and runs on any
// backend. Used by the random ops and Dropout (random.cpp).
#include <string>

#include "onnx/converter.h"

namespace graft::onnx {

// 64-bit FNV-1a of a string: a per-node salt (stable across runs and platforms).
uint64_t fnv1a(const std::string& s);

// Uniform [0, 1) f32 values of `shape` from a u64 scalar key (24 random bits each: exact in f32).
Node uniform_from_hash(Graph& g, Node key, const Shape& shape);

// Mixes TraceOptions::seed_node (when set) into a u64 key; fails when it belongs to another graph.
Node mix_seed_node(OpContext& c, Node key);

}  // namespace graft::onnx
