#pragma once
// OpTable<T>: one entry per primitive op kind and one per composite kind. It is how every layer says what
// it has for each op — shape rules (graph), gradient rules (autodiff), kernels (each backend), exporters —
// and how the completeness test (tests/completeness) asks whether an op lacks one.
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graft/graph/graph.h"

namespace graft {

template <typename T>
class OpTable {
 public:
  void add(OpKind k, T v) { ops_[size_t(k)] = std::move(v); }
  void add(CompositeKind k, T v) { composites_[size_t(k)] = std::move(v); }
  // A user composite, by its name (backend-specific kernels for a user's own composites).
  void add_custom(std::string name, T v) { custom_.emplace_back(std::move(name), std::move(v)); }

  const T* find(OpKind k) const { return get(ops_[size_t(k)]); }
  const T* find(CompositeKind k) const { return get(composites_[size_t(k)]); }
  // The entry for `op`: its composite kind's for a composite (a user composite's by name, else the
  // Custom kind's), its op kind's otherwise.
  const T* find(const Op& op) const {
    if (op.kind != OpKind::Composite) return find(op.kind);
    const auto& a = std::get<CompositeAttrs>(op.attrs);
    if (a.kind() == CompositeKind::Custom)
      for (const auto& [name, v] : custom_)
        if (name == a.name()) return &v;
    return find(a.kind());
  }

 private:
  static const T* get(const std::optional<T>& v) { return v ? &*v : nullptr; }
  std::array<std::optional<T>, size_t(OpKind::kCount)> ops_{};
  std::array<std::optional<T>, size_t(CompositeKind::kCount)> composites_{};
  std::vector<std::pair<std::string, T>> custom_;
};

}  // namespace graft
