#include "backend/run_into_checks.h"

#include <string>

#include "graft/core/error.h"

namespace graft {

void check_run_into_outputs(std::string_view graph_name, const std::vector<ValueType>& output_types,
                            std::span<const Tensor> inputs, std::span<const Tensor> outputs) {
  GRAFT_CHECK(outputs.size() == output_types.size(), "graph '", graph_name, "' returns ", output_types.size(),
              " outputs, given ", outputs.size(), " to write into");
  for (size_t j = 0; j < outputs.size(); ++j) {
    const ValueType& t = output_types[j];
    const Tensor& out = outputs[j];
    GRAFT_CHECK(out.defined() && out.dtype() == t.dtype && out.shape() == t.shape, "output ", j, " to write into is ",
                out.defined() ? std::string(dtype_name(out.dtype())) + out.shape().str() : "undefined", ", expected ",
                t.str());
    for (const Tensor& in : inputs)
      GRAFT_CHECK(!in.defined() || in.storage() != out.storage(), "output ", j,
                  " shares its buffer with an input: run_into needs distinct output buffers");
  }
}

}  // namespace graft
