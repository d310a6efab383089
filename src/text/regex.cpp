#include "text/regex.h"

#include <oniguruma.h>

#include <mutex>
#include <optional>

#include "graft/core/error.h"
#include "text/unicode.h"

namespace graft::text {

static void ensure_onig_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encs[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
  });
}

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  ensure_onig_initialized();
  OnigRegex re = nullptr;
  OnigErrorInfo einfo;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  int r = onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &einfo);
    fail("tokenizer: invalid regex \"", pattern, "\": ", reinterpret_cast<const char*>(msg));
  }
  re_ = std::shared_ptr<void>(re, [](void* q) { onig_free(static_cast<OnigRegex>(q)); });
}

void Regex::find_iter(std::string_view s, const std::function<void(size_t, size_t)>& f) const {
  auto re = static_cast<OnigRegex>(re_.get());
  const auto* str = reinterpret_cast<const OnigUChar*>(s.data());
  const OnigUChar* end = str + s.size();
  OnigRegion* region = onig_region_new();
  std::unique_ptr<OnigRegion, void (*)(OnigRegion*)> guard(region, [](OnigRegion* r) { onig_region_free(r, 1); });
  size_t last_end = 0;
  std::optional<size_t> last_match_end;
  while (last_end <= s.size()) {
    onig_region_clear(region);
    int r = onig_search(re, str, end, str + last_end, end, region, ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) break;
    if (r < 0) {
      OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(msg, r);
      fail("tokenizer: regex \"", pattern_, "\" failed: ", reinterpret_cast<const char*>(msg));
    }
    auto ms = static_cast<size_t>(region->beg[0]);
    auto me = static_cast<size_t>(region->end[0]);
    if (ms == me && last_match_end && *last_match_end == me) {
      last_end += last_end < s.size() ? unicode::utf8_len(static_cast<unsigned char>(s[last_end])) : 1;
      continue;
    }
    last_end = me;
    last_match_end = me;
    f(ms, me);
  }
}

}  // namespace graft::text
