#pragma once
// The model rewrite every quantization form shares: a copy of the main graph's node list being rebuilt
// node by node (a replaced node's nodes take its place, so the order stays topological), new
// initializers, names made unique against everything the model already names, and the constant
// initializers a rewriter may quantize. Internal to src/onnx/quantize.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "graft/onnx/model.h"
#include "graft/onnx/quantize.h"

namespace graft::onnx::quantize_impl {

// A calibrated activation range.
struct Range {
  float lo = 0, hi = 0;
};

class Rewrite {
 public:
  Rewrite(const Model& model, const QuantizeOptions& options);

  const Model& model() const { return model_; }
  const QuantizeOptions& options() const { return options_; }
  int64_t opset() const { return opset_; }

  // The value of initializer `name` when it is a constant float32 tensor of rank `rank` (-1: any) that no
  // graph input can override; nullopt otherwise.
  std::optional<Tensor> constant_float(const std::string& name, int rank = -1) const;

  // A name not yet used by any value or node of the model (nor handed out before): `base`, or base_1, ...
  std::string fresh(const std::string& base);
  // Adds an initializer under a fresh name derived from `base`; returns the name.
  std::string add_initializer(const std::string& base, const Tensor& value);
  // Appends a node to the rebuilt graph (domain "" unless given); its name is made fresh from `name`.
  ::onnx::NodeProto& add_node(const std::string& op_type, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& outputs, const std::string& name,
                              const std::string& domain = "");
  // Appends a copy of an original node.
  void keep(const ::onnx::NodeProto& node) { *nodes_.Add() = node; }

  // The rebuilt graph's nodes and new initializers, for the driver.
  ::google::protobuf::RepeatedPtrField<::onnx::NodeProto>& nodes() { return nodes_; }
  const std::vector<std::pair<std::string, Tensor>>& new_initializers() const { return added_; }

  // Values derived once per source and shared by every node reading it (the DynamicQuantizeLinear of an
  // activation read by Q, K and V; a QuantizeLinear/DequantizeLinear pair): key -> output names.
  std::map<std::string, std::vector<std::string>> shared;
  // Static mode: the calibrated range of each activation.
  std::map<std::string, Range> ranges;
  // Weight-only int4 with error compensation: X^T X (K x K, row-major) of each MatMul's activation X.
  std::map<std::string, std::vector<double>> grams;

 private:
  const Model& model_;
  const QuantizeOptions& options_;
  int64_t opset_ = 0;
  std::set<std::string> names_, graph_inputs_;
  std::vector<std::pair<std::string, Tensor>> added_;
  ::google::protobuf::RepeatedPtrField<::onnx::NodeProto> nodes_;
};

// Attribute helpers for the rewriters.
void set_attr(::onnx::NodeProto& n, const std::string& name, int64_t v);
int64_t int_attr(const ::onnx::NodeProto& n, const std::string& name, int64_t fallback);
float float_attr(const ::onnx::NodeProto& n, const std::string& name, float fallback);
// "name (Op)" for messages: the node's name, or its first output when unnamed.
std::string describe(const ::onnx::NodeProto& n);

// Symmetric int8 weights: one scale per tensor (axis < 0) or per index along `axis`; returns the int8
// tensor and fills `scales` (one entry, or one per channel).
Tensor quantize_symmetric_int8(const Tensor& w, int axis, std::vector<float>& scales);

// Each form: when `node` is a form's op whose weight it can quantize, appends its replacement to `rw` and
// returns ""; otherwise returns why not (the driver keeps the node and reports it) without appending.
std::string rewrite_dynamic(Rewrite& rw, const ::onnx::NodeProto& node);
std::string rewrite_qdq(Rewrite& rw, const ::onnx::NodeProto& node);
std::string rewrite_weight_only(Rewrite& rw, const ::onnx::NodeProto& node);

// Static mode: the activation input of `node` that rewrite_qdq would quantize (empty when none).
std::string qdq_activation(const Rewrite& rw, const ::onnx::NodeProto& node);

// Runs the fp32 model with graft over the calibration sets and records the range of every value in
// `values` (by min/max or percentile, QuantizeOptions::method).
std::map<std::string, Range> calibrate(const Model& model, const std::set<std::string>& values,
                                       const QuantizeOptions& options);

// Runs the fp32 model with graft over the calibration sets and sums X^T X of every activation in `values`
// (name -> K, the activation seen as rows of K values).
std::map<std::string, std::vector<double>> activation_grams(const Model& model,
                                                           const std::map<std::string, int64_t>& values,
                                                           const QuantizeOptions& options);

// Made-up input sets for a model given none (see calibration.cpp), each symbolic axis `extent` long, enough
// of them (4 to 256) for about `rows` rows of activations.
std::vector<CalibrationSet> synthetic_calibration_sets(const Model& model, int64_t rows, int64_t extent);

}  // namespace graft::onnx::quantize_impl
