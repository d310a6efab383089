#pragma once
// Errors in what the user asked for, as opposed to failures while doing it.
#include "graft/core/error.h"

namespace graft::app {

// A value the user gave is wrong (a command-line flag, an option of a pipeline: `--dims batch=0`, an
// unknown dimension name, `--max-length` beyond the model's positions). The message names the value as the
// user wrote it and says what is expected, never an internal graph node. The command line exits with
// status 2 for these (usage errors) and 1 for every other graft::Error.
class UsageError : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void usage_error(const Args&... args) {
  throw UsageError(detail::concat(args...));
}

}  // namespace graft::app
