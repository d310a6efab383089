#pragma once
// graft's one exception type. Every error message names what is at fault (the file, node, op, shapes or
// value) so the user can act on it without a debugger.
#include <sstream>
#include <stdexcept>
#include <string>

namespace graft {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// Throws graft::Error with the streamed arguments as message: fail("Reshape: ", a, " vs ", b).
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(detail::concat(args...));
}

}  // namespace graft

// Checks an invariant that the user can violate; the message is built only on failure.
#define GRAFT_CHECK(cond, ...)                 \
  do {                                         \
    if (!(cond)) ::graft::fail(__VA_ARGS__);   \
  } while (0)
