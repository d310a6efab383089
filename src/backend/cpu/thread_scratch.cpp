#include "backend/cpu/thread_scratch.h"

#include <cstdlib>

#include "graft/core/error.h"

namespace graft::cpu {

void* thread_scratch(ScratchRole role, size_t bytes, const char* who) {
  struct Buffer {
    void* data = nullptr;
    size_t bytes = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[size_t(ScratchRole::Count)];
  Buffer& b = buffers[size_t(role)];
  if (b.bytes < bytes) {
    std::free(b.data);
    b.bytes = (bytes + 63) / 64 * 64;
    b.data = std::aligned_alloc(64, b.bytes);
    if (!b.data) {
      b.bytes = 0;
      fail(who, ": cannot allocate ", bytes, " bytes of scratch");
    }
  }
  return b.data;
}

}  // namespace graft::cpu
