// Low-rank adapters on imported weights (graft/train/lora.h).
#include "graft/train/lora.h"

#include <cmath>
#include <random>
#include <regex>
#include <set>

#include "graft/context/checkpoint.h"

namespace graft::train {

namespace {
constexpr const char* kAlpha = "lora.alpha";
constexpr const char* kRank = "lora.rank";

Variable* by_origin(Context& ctx, const std::string& origin) {
  for (Variable* v : ctx.variables())
    if (v->origin == origin) return v;
  return nullptr;
}
}  // namespace

LoraInfo add_lora(const onnx::Model& model, Context& ctx, const LoraOptions& o) {
  GRAFT_CHECK(o.rank >= 1, "add_lora: rank ", o.rank, " must be at least 1");
  std::regex re;
  try {
    re = std::regex(o.targets, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail("add_lora: targets '", o.targets, "' is not a valid regular expression: ", e.what());
  }
  std::set<std::string> weights = model.inputs_of("MatMul", {0, 1});
  weights.merge(model.inputs_of("Gemm", {1}));
  if (o.freeze_base)
    for (Variable* v : ctx.variables())
      if (!v->origin.empty()) v->trainable = false;
  ctx.set_hparam(kAlpha, o.alpha);
  ctx.set_hparam(kRank, o.rank);
  std::mt19937_64 rng(o.seed);
  LoraInfo info;
  for (const std::string& name : model.initializer_names()) {
    if (!weights.count(name) || !std::regex_match(name, re)) continue;
    Variable* base = by_origin(ctx, name);
    if (!base || base->value.rank() != 2 || !is_floating(base->value.dtype())) continue;
    base->trainable = false;
    const int64_t rows = base->value.shape()[0], cols = base->value.shape()[1];
    std::vector<float> a(size_t(rows * o.rank));
    double bound = 1.0 / std::sqrt(double(rows));
    for (float& x : a) x = float((double(rng() >> 11) / 9007199254740992.0 * 2 - 1) * bound);
    std::string vname = base->name;
    DType dt = base->value.dtype();
    ctx.variable(vname + ".lora_A", Tensor::from_vector(a, Shape{rows, o.rank}).cast(dt));
    ctx.variable(vname + ".lora_B", Tensor::zeros(dt, Shape{o.rank, cols}));
    info.targets.push_back(name);
    info.parameters += (rows + cols) * o.rank;
  }
  GRAFT_CHECK(!info.targets.empty(), "add_lora: no 2-D float weight of MatMul or Gemm in ", model.source(),
              " matches '", o.targets, "'");
  return info;
}

double lora_scale(const Context& ctx) {
  if (!ctx.has_hparam(kRank)) return 0;
  return ctx.hparam<double>(kAlpha) / double(ctx.hparam<int64_t>(kRank));
}

Tensor lora_merged(const Context& ctx, const Variable& base) {
  const Variable* a = ctx.find(base.name + ".lora_A");
  const Variable* b = ctx.find(base.name + ".lora_B");
  if (!a || !b) return base.value;
  const int64_t rows = base.value.shape()[0], cols = base.value.shape()[1], r = a->value.shape()[1];
  std::vector<double> w = base.value.to_vector<double>(), av = a->value.to_vector<double>(), bv = b->value.to_vector<double>();
  const double scale = lora_scale(ctx);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t k = 0; k < r; ++k) s += av[size_t(i * r + k)] * bv[size_t(k * cols + j)];
      w[size_t(i * cols + j)] += scale * s;
    }
  return Tensor::from_vector(w, base.value.shape()).cast(base.value.dtype());
}

void save_lora(const Context& ctx, const std::filesystem::path& path) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const Variable* v : ctx.variables()) {
    if (v->origin.empty()) continue;
    const Variable* a = ctx.find(v->name + ".lora_A");
    const Variable* b = ctx.find(v->name + ".lora_B");
    if (!a || !b) continue;
    tensors.emplace_back(v->origin + ".lora_A", a->value);
    tensors.emplace_back(v->origin + ".lora_B", b->value);
  }
  GRAFT_CHECK(!tensors.empty(), "save_lora: the context has no adapters");
  write_safetensors(path, tensors,
                    {{"format", "graft-lora"},
                     {"rank", std::to_string(ctx.hparam<int64_t>(kRank))},
                     {"alpha", std::to_string(ctx.hparam<double>(kAlpha))}});
}

int load_lora(Context& ctx, const std::filesystem::path& path) {
  SafetensorsFile f = read_safetensors(path);
  auto meta = [&](const char* key) {
    auto it = f.metadata.find(key);
    GRAFT_CHECK(it != f.metadata.end(), path.string(), ": no '", key, "' in the metadata (not a LoRA adapter file?)");
    return it->second;
  };
  int64_t rank = std::stoll(meta("rank"));
  ctx.set_hparam(kRank, rank);
  ctx.set_hparam(kAlpha, std::stod(meta("alpha")));
  int n = 0;
  for (const auto& [name, t] : f.tensors) {
    bool is_a = name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_A") == 0;
    bool is_b = name.size() > 7 && name.compare(name.size() - 7, 7, ".lora_B") == 0;
    GRAFT_CHECK(is_a || is_b, path.string(), ": tensor '", name, "' is not a .lora_A or .lora_B adapter");
    std::string origin = name.substr(0, name.size() - 7);
    Variable* base = by_origin(ctx, origin);
    GRAFT_CHECK(base, path.string(), ": '", name, "' adapts initializer '", origin, "', which the model does not have");
    GRAFT_CHECK(base->value.rank() == 2 && t.rank() == 2 &&
                    (is_a ? t.shape()[0] == base->value.shape()[0] && t.shape()[1] == rank
                          : t.shape()[0] == rank && t.shape()[1] == base->value.shape()[1]),
                path.string(), ": '", name, "' is ", t.shape(), ", which does not fit '", origin, "' ",
                base->value.shape(), " at rank ", rank);
    std::string vname = base->name + (is_a ? ".lora_A" : ".lora_B");
    Tensor value = t.cast(base->value.dtype());
    if (ctx.has(vname)) ctx.set_value(vname, value);
    else ctx.variable(vname, value);
    base->trainable = false;
    n += is_a;
  }
  return n;
}

}  // namespace graft::train
