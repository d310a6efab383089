#include "onnx/converter.h"

namespace graft::onnx {

void register_recurrent_ops(Registry& r) {}

}  // namespace graft::onnx
