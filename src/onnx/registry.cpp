// The converter registry: (domain, op type, since-version) -> converter.
#include <algorithm>

#include "onnx/converter.h"

namespace graft::onnx {

const Registry& Registry::get() {
  static const Registry registry = [] {
    Registry r;
    register_elementwise_ops(r);
    register_layout_ops(r);
    register_indexing_ops(r);
    register_reduction_ops(r);
    register_sort_ops(r);
    register_pooling_ops(r);
    register_linalg_ops(r);
    register_convolution_ops(r);
    register_control_ops(r);
    register_activation_ops(r);
    register_normalization_ops(r);
    register_attention_ops(r);
    register_recurrent_ops(r);
    register_quantization_ops(r);
    register_image_ops(r);
    register_vision_ops(r);
    register_signal_ops(r);
    register_random_ops(r);
    register_sequence_ops(r);
    register_loss_ops(r);
    register_training_ops(r);
    register_misc_ops(r);
    register_contrib_activation_ops(r);
    register_contrib_normalization_ops(r);
    register_contrib_attention_ops(r);
    register_contrib_quantization_ops(r);
    register_fused_ops(r);
    return r;
  }();
  return registry;
}

ConverterEntry& Registry::add(std::string domain, std::string op_type, int since, ConverterFn fn) {
  auto& list = table_[{domain, op_type}];
  ConverterEntry e;
  e.domain = std::move(domain);
  e.op_type = std::move(op_type);
  e.since = since;
  e.fn = std::move(fn);
  list.push_back(std::move(e));
  std::sort(list.begin(), list.end(), [](const ConverterEntry& a, const ConverterEntry& b) { return a.since < b.since; });
  // Each entry handles opsets up to the next one's since (unless it set its own end).
  for (size_t i = 0; i + 1 < list.size(); ++i)
    if (list[i].until == 0 || list[i].until >= list[i + 1].since) list[i].until = list[i + 1].since - 1;
  for (auto& x : list)
    if (x.since == since && x.fn) return x;
  return list.back();
}

const ConverterEntry* Registry::find(const std::string& domain, const std::string& op_type, int64_t opset) const {
  auto it = table_.find({domain, op_type});
  if (it == table_.end()) return nullptr;
  const ConverterEntry* best = nullptr;
  for (const auto& e : it->second)
    if (e.since <= opset && (e.until == 0 || opset <= e.until)) best = &e;
  return best;
}

std::vector<const ConverterEntry*> Registry::all() const {
  std::vector<const ConverterEntry*> out;
  for (const auto& [k, list] : table_)
    for (const auto& e : list) out.push_back(&e);
  return out;
}

std::vector<SupportedOp> supported_ops() {
  std::vector<SupportedOp> out;
  for (const ConverterEntry* e : Registry::get().all()) out.push_back({e->domain, e->op_type, e->since, e->until, e->note});
  return out;
}

}  // namespace graft::onnx
