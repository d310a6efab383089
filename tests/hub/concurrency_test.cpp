// Two threads or two processes downloading the same file produce one blob and one download: the second
// writer waits on the flock of .locks/<repo>/<etag>.lock and then finds the blob in place.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "hub/download.h"
#include "hub/fake_hub.h"
#include "hub/test_util.h"

extern char** environ;

namespace fs = std::filesystem;
using graft::hub::Options;
using graft::hub::Repo;
using hubtest::FakeHub;
using hubtest::TempDir;

namespace {

const std::string kCommit = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffee0001";

int count_blobs(const fs::path& blobs) {
  int n = 0;
  for (auto& e : fs::directory_iterator(blobs)) {
    EXPECT_EQ(e.path().extension(), "") << "leftover " << e.path();
    ++n;
  }
  return n;
}

// Spawns this test binary running only HubChild.DownloadFromEnv; returns the child's pid.
pid_t spawn_child(const std::string& endpoint, const fs::path& cache) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("GTEST_", 0) != 0) env_strings.emplace_back(*e);  // no shared gtest output
  env_strings.push_back("GRAFT_HUB_CHILD_ENDPOINT=" + endpoint);
  env_strings.push_back("GRAFT_HUB_CHILD_CACHE=" + cache.string());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=HubChild.DownloadFromEnv";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0);
  return pid;
}

// Waits for a child at most `limit`; kills it on timeout. Returns its exit status or -1.
int wait_child(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST(HubConcurrency, TwoThreadsOneBlob) {
  FakeHub hub;
  const std::string data = hubtest::payload(256 * 1024, 5);
  hub.add_file("org/model", kCommit, "model.onnx", data, true);
  hub.slow_downloads(/*chunk_delay_ms=*/15, /*chunk=*/16 * 1024);  // ~250 ms transfer: the threads overlap
  TempDir dir;
  Options o = hubtest::test_options(hub.endpoint(), dir.path());
  fs::path p1, p2;
  std::string err1, err2;
  auto run = [&](fs::path& out, std::string& err) {
    try {
      out = Repo("org/model", o).download("model.onnx");
    } catch (const std::exception& e) {
      err = e.what();
    }
  };
  std::thread t1(run, std::ref(p1), std::ref(err1));
  std::thread t2(run, std::ref(p2), std::ref(err2));
  t1.join();
  t2.join();
  ASSERT_EQ(err1, "");
  ASSERT_EQ(err2, "");
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(hubtest::read_file(p1), data);
  EXPECT_EQ(hub.count("GET", "/cdn/"), 1);
  EXPECT_EQ(count_blobs(dir.path() / "models--org--model" / "blobs"), 1);
}

TEST(HubConcurrency, TwoProcessesOneBlob) {
  FakeHub hub;
  const std::string data = hubtest::payload(256 * 1024, 6);
  hub.add_file("org/model", kCommit, "model.onnx", data, true);
  hub.slow_downloads(15, 16 * 1024);
  TempDir dir;
  pid_t a = spawn_child(hub.endpoint(), dir.path());
  pid_t b = spawn_child(hub.endpoint(), dir.path());
  EXPECT_EQ(wait_child(a, std::chrono::seconds(60)), 0);
  EXPECT_EQ(wait_child(b, std::chrono::seconds(60)), 0);
  EXPECT_EQ(hub.count("GET", "/cdn/"), 1);
  const fs::path s = dir.path() / "models--org--model";
  EXPECT_EQ(count_blobs(s / "blobs"), 1);
  EXPECT_EQ(hubtest::read_file(s / "snapshots" / kCommit / "model.onnx"), data);
}

TEST(HubConcurrency, LockTimesOutWithClearError) {
  TempDir dir;
  const fs::path lock = dir.path() / ".locks" / "x.lock";
  graft::hub::detail::FileLock held(lock, std::chrono::milliseconds(1000));
  try {
    graft::hub::detail::FileLock second(lock, std::chrono::milliseconds(100));
    FAIL() << "second lock acquired";
  } catch (const graft::hub::HubError& e) {
    EXPECT_CONTAINS(e.what(), lock.string());
  }
}

// Helper run in a child process by TwoProcessesOneBlob; skipped when run directly.
TEST(HubChild, DownloadFromEnv) {
  const char* endpoint = std::getenv("GRAFT_HUB_CHILD_ENDPOINT");
  const char* cache = std::getenv("GRAFT_HUB_CHILD_CACHE");
  if (!endpoint || !cache) GTEST_SKIP() << "only runs as a child of HubConcurrency.TwoProcessesOneBlob";
  Options o = hubtest::test_options(endpoint, cache);
  fs::path p = Repo("org/model", o).download("model.onnx");
  EXPECT_TRUE(fs::is_regular_file(p));
}
