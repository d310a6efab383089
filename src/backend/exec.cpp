#include "graft/backend/exec.h"

namespace graft {

namespace {
std::string signature(const std::vector<Tensor>& inputs) {
  std::string key;
  for (const Tensor& t : inputs) {
    GRAFT_CHECK(t.defined(), "Exec: undefined input tensor");
    key += std::string(dtype_name(t.dtype())) + t.shape().str() + ";";
  }
  return key;
}
}  // namespace

Executable& Exec::executable_for(const std::vector<Tensor>& inputs) {
  std::string key = signature(inputs);
  auto it = index_.find(key);
  if (it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // mark as most recently used
    return *lru_.front().second;
  }
  Graph g("exec");
  std::vector<Node> params;
  for (size_t i = 0; i < inputs.size(); ++i)
    params.push_back(g.parameter("arg" + std::to_string(i), inputs[i].dtype(), inputs[i].shape()));
  g.set_outputs(build_(g, params));
  std::unique_ptr<Executable> exe = backend_->compile(g, options_);
  ++compilations_;
  lru_.emplace_front(key, std::move(exe));
  index_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return *lru_.front().second;
}

std::vector<Tensor> Exec::call(const std::vector<Tensor>& inputs) {
  std::lock_guard<std::mutex> lock(mu_);
  return executable_for(inputs).run(std::span<const Tensor>(inputs));
}

}  // namespace graft
