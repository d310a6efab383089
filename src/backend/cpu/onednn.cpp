#include "backend/cpu/onednn.h"

namespace graft::cpu {

dnnl::engine& onednn_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

}  // namespace graft::cpu
