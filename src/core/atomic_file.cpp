#include "core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "graft/core/error.h"

namespace graft {

void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& writer) {
  static std::atomic<int> counter{0};
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      GRAFT_CHECK(out, "cannot open ", tmp, " for writing");
      writer(out);
      out.flush();
      GRAFT_CHECK(out, "write to ", tmp, " failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    GRAFT_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace graft
