#pragma once
// A one-line download progress bar on stderr, redrawn at most ten times a second.
#include <chrono>
#include <cstdint>
#include <string>

#include "graft/hub/hub.h"

namespace graft::hub::detail {

class ProgressBar {
 public:
  // Shown when opts.progress is Always, or Auto with stderr a TTY and total >= opts.progress_min_bytes.
  ProgressBar(std::string label, std::uint64_t total, const Options& opts);
  ~ProgressBar();
  void update(std::uint64_t done);
  bool enabled() const { return enabled_; }

  // "  12.3MB" style sizes, exposed for tests.
  static std::string human(double bytes);

 private:
  void draw(bool final_line);
  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::uint64_t first_ = 0;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace graft::hub::detail
