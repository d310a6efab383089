// Inputs for `graft run` / `graft bench` (graft/app/model_inputs.h).
#include "graft/app/model_inputs.h"

#include <algorithm>
#include <random>
#include <sstream>

#include "graft/core/error.h"

namespace graft::app {

std::map<std::string, Tensor> read_named_inputs(const std::vector<std::string>& specs) {
  std::map<std::string, Tensor> out;
  for (const auto& s : specs) {
    auto eq = s.find('=');
    GRAFT_CHECK(eq != std::string::npos && eq > 0, "--input '", s, "': expected NAME=FILE.npy");
    out[s.substr(0, eq)] = read_npy(s.substr(eq + 1));
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
      GRAFT_CHECK(eq != std::string::npos && eq > 0, "--dims '", item, "': expected SYMBOL=N");
      try {
        size_t used = 0;
        int64_t v = std::stoll(item.substr(eq + 1), &used);
        GRAFT_CHECK(used == item.size() - eq - 1 && v >= 0, "bad extent");
        out[item.substr(0, eq)] = v;
      } catch (const std::exception&) {
        fail("--dims '", item, "': the extent must be a non-negative integer");
      }
    }
  }
  return out;
}

namespace {

Tensor random_input(const onnx::ValueInfo& in, const std::map<std::string, int64_t>& dims, uint32_t seed,
                    std::vector<std::string>& notes) {
  GRAFT_CHECK(in.dtype.has_value(), "input '", in.name, "' has type ", in.type, ", which graft cannot fill");
  std::vector<int64_t> shape;
  if (in.dims)
    for (const auto& d : *in.dims) {
      if (d.is_fixed()) {
        shape.push_back(d.value);
      } else if (!d.symbol.empty() && dims.count(d.symbol)) {
        shape.push_back(dims.at(d.symbol));
      } else {
        shape.push_back(1);
        notes.push_back("input '" + in.name + "': " + (d.symbol.empty() ? "unnamed axis" : "'" + d.symbol + "'") +
                        " set to 1 (use --dims " + (d.symbol.empty() ? "" : d.symbol) + "=N)");
      }
    }
  Shape s(shape);
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

}  // namespace

CompletedInputs complete_inputs(const onnx::Model& m, std::map<std::string, Tensor> given,
                                const std::map<std::string, int64_t>& dims) {
  CompletedInputs out;
  std::vector<std::string> shape_notes;
  uint32_t seed = 0;
  for (const auto& in : m.inputs()) {
    ++seed;
    if (auto it = given.find(in.name); it != given.end()) {
      // NumPy has no bfloat16: .npy files (ONNX's test data, write_npy) hold its bit patterns as uint16.
      if (in.dtype == DType::BF16 && it->second.dtype() == DType::U16)
        it->second = Tensor::from_bytes(DType::BF16, it->second.shape(), it->second.raw(), it->second.nbytes());
      continue;
    }
    Tensor t = random_input(in, dims, seed, shape_notes);
    std::ostringstream note;
    note << "input '" << in.name << "' filled with seeded random values " << t.shape();
    out.notes.push_back(note.str());
    given[in.name] = t;
  }
  out.notes.insert(out.notes.end(), shape_notes.begin(), shape_notes.end());
  out.inputs = std::move(given);
  return out;
}

}  // namespace graft::app
