// Resource limits (graft/core/limits.h): the process-wide memory limit and its default.
#include "graft/core/limits.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>

#include "graft/core/error.h"

namespace graft {

namespace {

std::atomic<size_t> g_limit{0};  // 0: not set by the program, use the default

// "123", "512M", "2g", "1.5G" -> bytes. Throws naming the variable on anything else.
size_t parse_size(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  GRAFT_CHECK(end != text.c_str() && v > 0, "GRAFT_MEMORY_LIMIT='", text,
              "': expected a positive number of bytes, optionally with a K, M, G or T suffix");
  std::string suffix(end);
  double scale = 1;
  if (!suffix.empty()) {
    char c = char(std::toupper(static_cast<unsigned char>(suffix[0])));
    const std::string rest = suffix.substr(1);
    GRAFT_CHECK(rest.empty() || rest == "B" || rest == "b" || rest == "iB", "GRAFT_MEMORY_LIMIT='", text,
                "': unknown suffix '", suffix, "'");
    if (c == 'K') scale = 1024.0;
    else if (c == 'M') scale = 1024.0 * 1024;
    else if (c == 'G') scale = 1024.0 * 1024 * 1024;
    else if (c == 'T') scale = 1024.0 * 1024 * 1024 * 1024;
    else if (c != 'B') fail("GRAFT_MEMORY_LIMIT='", text, "': unknown suffix '", suffix, "'");
  }
  double bytes = v * scale;
  GRAFT_CHECK(bytes < 1.8e19, "GRAFT_MEMORY_LIMIT='", text, "' is too large");
  return size_t(bytes);
}

size_t physical_memory() {
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return size_t(1) << 40;
  return size_t(pages) * size_t(page);
}

size_t default_limit() {
  static const size_t value = [] {
    const char* env = std::getenv("GRAFT_MEMORY_LIMIT");
    return env && *env ? parse_size(env) : physical_memory();
  }();
  return value;
}

}  // namespace

size_t memory_limit() {
  size_t set = g_limit.load(std::memory_order_relaxed);
  return set ? set : default_limit();
}

void set_memory_limit(size_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

void check_memory(uint64_t bytes, const std::string& what) {
  size_t limit = memory_limit();
  if (bytes > limit)
    fail(what, " needs ", bytes, " bytes, more than the memory limit of ", limit,
         " bytes (raise it with GRAFT_MEMORY_LIMIT or graft::set_memory_limit if this is intended)");
}

}  // namespace graft
