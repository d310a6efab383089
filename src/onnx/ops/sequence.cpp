#include "onnx/converter.h"

namespace graft::onnx {

void register_sequence_ops(Registry& r) {}

}  // namespace graft::onnx
