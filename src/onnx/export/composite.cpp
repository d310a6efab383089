// Export of the composites ONNX has no op for: rnn_scan (the recurrence unrolled over its static sequence
// length) and user composites, as their decomposition into primitives.
#include "onnx/export/exporter.h"

namespace graft::onnx {

void register_composite_emitters(EmitterTable& t) {
  t.add(CompositeKind::RnnScan, emit_decomposition);
  t.add(CompositeKind::Custom, emit_decomposition);
}

}  // namespace graft::onnx
