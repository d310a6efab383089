#include "hub/progress.h"

#include <unistd.h>

#include <cstdio>

namespace graft::hub::detail {

ProgressBar::ProgressBar(std::string label, std::uint64_t total, const Options& opts)
    : label_(std::move(label)), total_(total) {
  enabled_ = opts.progress == Progress::Always ||
             (opts.progress == Progress::Auto && ::isatty(STDERR_FILENO) && total >= opts.progress_min_bytes);
  start_ = last_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  if (enabled_ && drawn_) draw(true);
}

std::string ProgressBar::human(double bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", bytes, kUnits[u]);
  return buf;
}

void ProgressBar::update(std::uint64_t done) {
  if (!enabled_) return;
  if (!drawn_) first_ = done;  // bytes already there when resuming do not count towards the speed
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done_ < total_) return;
  last_ = now;
  draw(false);
}

void ProgressBar::draw(bool final_line) {
  drawn_ = true;
  const int width = 30;
  double frac = total_ ? double(done_) / double(total_) : 1.0;
  if (frac > 1.0) frac = 1.0;
  int fill = int(frac * width);
  std::string bar(std::size_t(fill), '#');
  bar.resize(width, ' ');
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? double(done_ - first_) / secs : 0.0;
  std::fprintf(stderr, "\r%s: %3d%% |%s| %s/%s %s/s%s", label_.c_str(), int(frac * 100), bar.c_str(),
               human(double(done_)).c_str(), human(double(total_)).c_str(), human(rate).c_str(),
               final_line ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace graft::hub::detail
