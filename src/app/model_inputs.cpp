// Inputs for `graft run` / `graft bench` (graft/app/model_inputs.h).
#include "graft/app/model_inputs.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include "graft/app/errors.h"

namespace graft::app {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string inputs_list(const onnx::Model& m) {
  std::string s;
  for (const auto& in : m.inputs()) s += "\n  " + in.str();
  return s;
}

}  // namespace

std::map<std::string, Tensor> read_named_inputs(const std::vector<std::string>& specs) {
  std::map<std::string, Tensor> out;
  for (const auto& s : specs) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
      usage_error("--input '", s, "': expected NAME=FILE.npy");
    std::string name = s.substr(0, eq), file = s.substr(eq + 1);
    if (out.count(name)) usage_error("--input '", s, "': input '", name, "' is given twice");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) usage_error("--input '", s, "': file ", file, " does not exist");
    out[name] = read_npy(file);
  }
  return out;
}

std::map<std::string, int64_t> parse_dims(const std::vector<std::string>& specs) {
  std::map<std::string, int64_t> out;
  for (const auto& spec : specs) {
    size_t start = 0;
    while (start <= spec.size()) {
      size_t end = spec.find(',', start);
      if (end == std::string::npos) end = spec.size();
      std::string item = spec.substr(start, end - start);
      start = end + 1;
      if (item.empty()) continue;
      auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) usage_error("--dims '", item, "': expected SYMBOL=N");
      std::string value = item.substr(eq + 1);
      int64_t v = 0;
      size_t used = 0;
      try {
        v = std::stoll(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (value.empty() || used != value.size()) usage_error("--dims '", item, "': the extent must be an integer");
      if (v < 1) usage_error("--dims '", item, "': the extent must be at least 1");
      out[item.substr(0, eq)] = v;
    }
  }
  return out;
}

std::vector<std::string> input_symbols(const onnx::Model& m) {
  std::vector<std::string> out;
  for (const auto& in : m.inputs())
    if (in.dims)
      for (const auto& d : *in.dims)
        if (!d.is_fixed() && !d.symbol.empty() && std::find(out.begin(), out.end(), d.symbol) == out.end())
          out.push_back(d.symbol);
  return out;
}

namespace {

// Where each symbol's extent came from: an input given, or --dims.
struct Binding {
  int64_t extent;
  std::string source;  // "input 'input_ids'" or "--dims"
};

Tensor random_values(const onnx::ValueInfo& in, const Shape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  DType t = *in.dtype;
  std::string lname = in.name;
  std::transform(lname.begin(), lname.end(), lname.begin(), ::tolower);
  std::vector<double> v(static_cast<size_t>(s.size()));
  if (is_floating(t)) {
    std::uniform_real_distribution<double> u(-1, 1);
    for (auto& x : v) x = u(rng);
  } else if (t == DType::Bool) {
    std::bernoulli_distribution u(0.5);
    for (auto& x : v) x = u(rng);
  } else if (lname.find("mask") != std::string::npos) {
    std::fill(v.begin(), v.end(), 1.0);
  } else if (lname.find("type") != std::string::npos || lname.find("position") != std::string::npos) {
    std::fill(v.begin(), v.end(), 0.0);
  } else {
    std::uniform_int_distribution<int> u(0, 99);
    for (auto& x : v) x = u(rng);
  }
  return Tensor::from_vector(v, s).cast(t);
}

// Checks a given input against its declaration and binds the symbols it fixes.
void bind_given(const onnx::ValueInfo& in, const Tensor& t, std::map<std::string, Binding>& bound) {
  std::ostringstream got;
  got << dtype_name(t.dtype()) << t.shape();
  if (in.dtype && *in.dtype != t.dtype())
    usage_error("--input '", in.name, "': the model takes ", in.str(), ", the file holds ", got.str());
  if (!in.dims) return;
  if (int(in.dims->size()) != t.rank())
    usage_error("--input '", in.name, "': the model takes ", in.str(), " (rank ", in.dims->size(),
                "), the file holds ", got.str());
  for (size_t a = 0; a < in.dims->size(); ++a) {
    const onnx::Dim& d = (*in.dims)[a];
    int64_t e = t.shape()[int(a)];
    if (d.is_fixed() && e != d.value)
      usage_error("--input '", in.name, "': the model takes ", in.str(), " (axis ", a, " is ", d.value,
                  "), the file holds ", got.str());
    if (d.is_fixed() || d.symbol.empty()) continue;
    auto [it, fresh] = bound.try_emplace(d.symbol, Binding{e, "input '" + in.name + "'"});
    if (!fresh && it->second.extent != e)
      usage_error("--input '", in.name, "' has ", d.symbol, " = ", e, ", but ", it->second.source, " has ", d.symbol,
                  " = ", it->second.extent);
  }
}

}  // namespace

CompletedInputs complete_inputs(const onnx::Model& m, std::map<std::string, Tensor> given,
                                const std::map<std::string, int64_t>& dims) {
  // Names first: every given input and every --dims symbol must exist.
  for (const auto& entry : given) {
    const std::string& name = entry.first;  // (clang 14 cannot capture a structured binding in a lambda)
    bool known = std::any_of(m.inputs().begin(), m.inputs().end(), [&](const auto& in) { return in.name == name; });
    if (!known) usage_error("--input '", name, "': the model has no input named '", name, "'; its inputs are:", inputs_list(m));
  }
  std::vector<std::string> symbols = input_symbols(m);
  for (const auto& [name, extent] : dims)
    if (std::find(symbols.begin(), symbols.end(), name) == symbols.end())
      usage_error("--dims '", name, "=", extent, "': the model has no symbolic dimension '", name, "' (",
                  symbols.empty() ? std::string("it has none") : "its inputs have: " + join(symbols), ")");

  // Extents the given inputs fix, then --dims where they agree.
  std::map<std::string, Binding> bound;
  for (const auto& in : m.inputs())
    if (auto it = given.find(in.name); it != given.end()) {
      // NumPy has no bfloat16: .npy files (ONNX's test data, write_npy) hold its bit patterns as uint16.
      if (in.dtype == DType::BF16 && it->second.dtype() == DType::U16)
        it->second = Tensor::from_bytes(DType::BF16, it->second.shape(), it->second.raw(), it->second.nbytes());
      bind_given(in, it->second, bound);
    }
  for (const auto& [name, extent] : dims) {
    auto [it, fresh] = bound.try_emplace(name, Binding{extent, "--dims"});
    if (!fresh && it->second.extent != extent)
      usage_error("--dims '", name, "=", extent, "', but ", it->second.source, " has ", name, " = ", it->second.extent);
  }

  CompletedInputs out;
  std::vector<std::string> defaulted;
  uint32_t seed = 0;
  for (const auto& in : m.inputs()) {
    ++seed;
    if (given.count(in.name)) continue;
    if (!in.dtype) usage_error("input '", in.name, "' has type ", in.type, ", which graft cannot fill; give it with --input");
    std::vector<int64_t> shape;
    if (in.dims)
      for (const auto& d : *in.dims) {
        if (d.is_fixed()) {
          shape.push_back(d.value);
        } else if (auto it = bound.find(d.symbol); !d.symbol.empty() && it != bound.end()) {
          shape.push_back(it->second.extent);
        } else {
          shape.push_back(1);
          std::string what = d.symbol.empty() ? "an unnamed axis of input '" + in.name + "'" : "'" + d.symbol + "'";
          if (std::find(defaulted.begin(), defaulted.end(), what) == defaulted.end()) defaulted.push_back(what);
        }
      }
    Tensor t = random_values(in, Shape(shape), seed);
    std::ostringstream note;
    note << "input '" << in.name << "' filled with seeded random values " << t.shape();
    out.notes.push_back(note.str());
    given[in.name] = t;
  }
  for (const auto& what : defaulted)
    out.notes.push_back(what + " set to 1" +
                        (what[0] == '\'' ? " (use --dims " + what.substr(1, what.size() - 2) + "=N)" : std::string()));
  out.inputs = std::move(given);
  return out;
}

}  // namespace graft::app
