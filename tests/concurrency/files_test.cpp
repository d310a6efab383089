// Files written and read concurrently: checkpoints saved and restored by several threads and several
// processes into one CheckpointManager folder, tokenizers shared by threads, and the Hub cache filled by
// several processes at once. A child process is this test binary re-run with a filter and an environment
// variable naming its job.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "graft/context/checkpoint.h"
#include "graft/hub/hub.h"
#include "graft/text/tokenizer.h"
#include "hub/fake_hub.h"
#include "hub/test_util.h"

extern char** environ;

namespace graft {
namespace {

namespace fs = std::filesystem;

// A context whose every value encodes `step`, so a restore shows which save it came from.
Context context_for(int64_t step) {
  Context ctx;
  ctx.variable("layer/w", Tensor::full(DType::F32, {64, 64}, double(step)));
  ctx.variable("layer/b", Tensor::full(DType::F32, {64}, double(step) + 0.5));
  ctx.variable("count", Tensor::scalar(step), /*trainable=*/false);
  ctx.set_hparam("step", step);
  return ctx;
}

// Restores the newest checkpoint of `dir` and checks that tensors, JSON and hyper-parameters all come
// from the same save. Returns the step, or -1 when there is none yet.
int64_t restore_consistent(const fs::path& dir) {
  CheckpointManager m(dir, 3);
  Context ctx = context_for(0);
  auto extra = m.restore(ctx);
  if (!extra) return -1;
  int64_t step = std::get<int64_t>(extra->at("step"));
  EXPECT_EQ(ctx.value("/count").item<int64_t>(), step);
  EXPECT_EQ(ctx.value("/layer/w").to_vector<float>().back(), float(step));
  EXPECT_EQ(ctx.value("/layer/b").to_vector<float>().front(), float(step) + 0.5f);
  EXPECT_EQ(std::get<int64_t>(ctx.hparams().at("step")), step);
  return step;
}

TEST(ConcurrentFiles, CheckpointsSavedAndRestoredByThreads) {
  hubtest::TempDir dir;
  std::atomic<int64_t> next{1};
  std::atomic<int> restores{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {  // savers
      CheckpointManager m(dir.path(), 3);
      for (int i = 0; i < 15; ++i) {
        int64_t step = next++;
        m.save(context_for(step), step);
      }
    });
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {  // readers, meanwhile
      for (int i = 0; i < 30; ++i)
        if (restore_consistent(dir.path()) >= 0) ++restores;
    });
  for (auto& th : pool) th.join();
  EXPECT_GT(restores.load(), 0);
  CheckpointManager m(dir.path(), 3);
  EXPECT_EQ(m.steps().size(), 3u);  // pruning kept exactly keep_last
  EXPECT_EQ(restore_consistent(dir.path()), m.steps().back());
  for (const auto& e : fs::directory_iterator(dir.path()))  // no temporary files left behind
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
}

// ---- processes --------------------------------------------------------------------------------------------

pid_t spawn_self(const std::string& filter, const std::vector<std::string>& env_extra) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("GTEST_", 0) != 0) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env_extra.begin(), env_extra.end());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::string f = "--gtest_filter=" + filter;
  char* argv[] = {exe.data(), f.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int wait_child(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(ConcurrentFiles, CheckpointsSavedAndRestoredByProcesses) {
  hubtest::TempDir dir;
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p)
    kids.push_back(spawn_self("ConcurrentFilesChild.CheckpointJob",
                              {"GRAFT_CKPT_DIR=" + dir.path().string(), "GRAFT_CKPT_FIRST=" + std::to_string(1 + p * 100)}));
  for (pid_t k : kids) EXPECT_EQ(wait_child(k, std::chrono::seconds(300)), 0);
  CheckpointManager m(dir.path(), 3);
  EXPECT_EQ(m.steps().size(), 3u);
  EXPECT_EQ(restore_consistent(dir.path()), m.steps().back());
}

TEST(ConcurrentFilesChild, CheckpointJob) {
  const char* dir = std::getenv("GRAFT_CKPT_DIR");
  const char* first = std::getenv("GRAFT_CKPT_FIRST");
  if (!dir || !first) GTEST_SKIP() << "runs as a child of ConcurrentFiles.CheckpointsSavedAndRestoredByProcesses";
  CheckpointManager m(dir, 3);
  for (int64_t i = 0; i < 10; ++i) {
    m.save(context_for(std::atoll(first) + i), std::atoll(first) + i);
    restore_consistent(dir);
  }
}

TEST(ConcurrentFiles, HubCacheFilledByFourProcesses) {
  // Four processes download the same two files (one regular, one LFS) into one cache at once: each file is
  // fetched once, every process gets complete files, and nothing half-written is left behind.
  hubtest::FakeHub hub;
  const std::string commit = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffee0042";
  const std::string big = hubtest::payload(300 * 1024, 11), small = "{\"a\": 1}";
  hub.add_file("org/model", commit, "weights.bin", big, /*lfs=*/true);
  hub.add_file("org/model", commit, "config.json", small);
  hub.slow_downloads(10, 32 * 1024);  // ~100 ms per LFS transfer: the processes overlap
  hubtest::TempDir cache;
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p)
    kids.push_back(spawn_self("ConcurrentFilesChild.HubJob",
                              {"GRAFT_HUB_JOB_ENDPOINT=" + hub.endpoint(), "GRAFT_HUB_JOB_CACHE=" + cache.path().string()}));
  for (pid_t k : kids) EXPECT_EQ(wait_child(k, std::chrono::seconds(120)), 0);
  EXPECT_EQ(hub.count("GET", "/cdn/"), 1);
  fs::path snap = cache.path() / "models--org--model" / "snapshots" / commit;
  EXPECT_EQ(hubtest::read_file(snap / "weights.bin"), big);
  EXPECT_EQ(hubtest::read_file(snap / "config.json"), small);
  for (const auto& e : fs::directory_iterator(cache.path() / "models--org--model" / "blobs"))
    EXPECT_EQ(e.path().extension(), "") << "leftover " << e.path();
}

TEST(ConcurrentFilesChild, HubJob) {
  const char* endpoint = std::getenv("GRAFT_HUB_JOB_ENDPOINT");
  const char* cache = std::getenv("GRAFT_HUB_JOB_CACHE");
  if (!endpoint || !cache) GTEST_SKIP() << "runs as a child of ConcurrentFiles.HubCacheFilledByFourProcesses";
  auto o = hubtest::test_options(endpoint, cache);
  hub::Repo repo("org/model", o);
  for (const char* f : {"weights.bin", "config.json"}) EXPECT_TRUE(fs::is_regular_file(repo.download(f)));
}

// ---- tokenizers ---------------------------------------------------------------------------------------------

TEST(ConcurrentFiles, TokenizerSharedByThreads) {
  // encode/decode are const: one tokenizer serves many threads (a WordPiece model made up here).
  std::string vocab = "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"hello\":3,\"world\":4,\"##s\":5,\"!\":6,\"a\":7}";
  std::string json = R"({"version":"1.0","normalizer":{"type":"BertNormalizer","lowercase":true},
    "pre_tokenizer":{"type":"BertPreTokenizer"},
    "post_processor":{"type":"BertProcessing","sep":["[SEP]",2],"cls":["[CLS]",1]},
    "decoder":{"type":"WordPiece","prefix":"##","cleanup":true},
    "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
             "vocab":)" + vocab + "}}";
  text::Tokenizer tok = text::Tokenizer::from_json(json);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(std::string(i % 2 ? "Hello worlds!" : "a hello") + std::string(size_t(i % 7), '!'));
  std::vector<std::vector<uint32_t>> want;
  for (const auto& t : texts) want.push_back(tok.encode(t).ids);
  std::atomic<int> bad{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep)
        for (size_t i = 0; i < texts.size(); ++i) {
          auto e = tok.encode(texts[i]);
          if (e.ids != want[i] || tok.decode(e.ids) != tok.decode(want[i])) ++bad;
        }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace graft
