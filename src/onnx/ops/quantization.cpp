#include "onnx/converter.h"

namespace graft::onnx {

void register_quantization_ops(Registry& r) {}

}  // namespace graft::onnx
