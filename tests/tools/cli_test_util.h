#pragma once
// Running the `graft` binary from tests as a user would: a shell command line, stdin from a string, stdout,
// stderr and the exit status captured. The binary is found next to the test's build folder:
// <build>/tests/test_tools -> <build>/tools/graft/graft (GRAFT_CLI overrides).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace graft::clitest {

namespace fs = std::filesystem;

inline fs::path graft_binary() {
  if (const char* env = std::getenv("GRAFT_CLI")) return env;
  fs::path exe = fs::read_symlink("/proc/self/exe");
  return exe.parent_path().parent_path() / "tools" / "graft" / "graft";
}

inline fs::path shared_dir() { return fs::path(GRAFT_SHARED_DIR); }
inline fs::path minilm_tokenizer() { return shared_dir() / "tokenizers" / "minilm_tokenizer.json"; }
inline fs::path gpt2_tokenizer() { return shared_dir() / "tokenizers" / "gpt2_tokenizer.json"; }

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "graft_cli_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
inline void write_all(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f.write(s.data(), std::streamsize(s.size()));
}

// `s` quoted for the shell.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
inline std::string quote(const fs::path& p) { return quote(p.string()); }

struct Result {
  int status = -1;  // exit status; -1 when it did not exit normally (a signal: a crash)
  int signal = 0;
  std::string out, err;
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream is(out);
    std::string l;
    while (std::getline(is, l)) v.push_back(l);
    return v;
  }
};

// Runs graft with `args` (already shell-quoted where needed) and `input` on stdin; `env` is prepended to
// the command line ("HF_HUB_OFFLINE=1 ...").
inline Result run_graft(const std::string& args, const std::string& input = "", const std::string& env = "") {
  TempDir d;
  write_all(d.path / "in", input);
  std::string cmd = env + (env.empty() ? "" : " ") + quote(graft_binary()) + " " + args + " < " +
                    quote(d.path / "in") + " > " + quote(d.path / "out") + " 2> " + quote(d.path / "err");
  int rc = std::system(cmd.c_str());
  Result r;
  if (WIFEXITED(rc)) {
    r.status = WEXITSTATUS(rc);
    if (r.status > 128) r.signal = r.status - 128;  // the shell reports a killed child as 128 + signal
  } else if (WIFSIGNALED(rc)) {
    r.signal = WTERMSIG(rc);
  }
  r.out = read_all(d.path / "out");
  r.err = read_all(d.path / "err");
  return r;
}

}  // namespace graft::clitest
