// Downloads against a real HTTP server on 127.0.0.1 imitating the Hub (fake_hub.h).
#include <gtest/gtest.h>

#include "hub/cache.h"
#include "hub/progress.h"
#include "hub/fake_hub.h"
#include "hub/test_util.h"

namespace fs = std::filesystem;
using graft::hub::HubError;
using graft::hub::Options;
using graft::hub::Repo;
using graft::hub::RepoType;
using hubtest::expect_hub_error;
using hubtest::FakeHub;
using hubtest::read_file;
using hubtest::TempDir;

namespace {

const std::string kRepo = "org/model";
const std::string kCommit = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const std::string kCommit2 = "ffffffffffffffffffffffffffffffffffff0002";

class HubDownload : public ::testing::Test {
 protected:
  void SetUp() override {
    config = "{\"hidden_size\": 384}";
    weights = hubtest::payload(200 * 1024, 42);
    hub.add_file(kRepo, kCommit, "config.json", config);
    hub.add_file(kRepo, kCommit, "onnx/model.onnx", weights, /*lfs=*/true);
    opts = hubtest::test_options(hub.endpoint(), dir.path() / "hub");
  }
  fs::path storage() const { return dir.path() / "hub" / "models--org--model"; }
  Repo repo() const { return Repo(kRepo, opts); }

  FakeHub hub;
  TempDir dir;
  Options opts;
  std::string config, weights;
};

}  // namespace

TEST_F(HubDownload, LayoutMatchesHuggingfaceHub) {
  fs::path p = repo().revision("main").download("onnx/model.onnx");
  const std::string sha = FakeHub::sha256(weights);
  EXPECT_EQ(p, storage() / "snapshots" / kCommit / "onnx" / "model.onnx");
  EXPECT_TRUE(fs::is_symlink(p));
  EXPECT_EQ(fs::read_symlink(p), fs::path("../../../blobs/" + sha));
  EXPECT_EQ(read_file(storage() / "blobs" / sha), weights);
  EXPECT_EQ(read_file(storage() / "refs" / "main"), kCommit);
  EXPECT_TRUE(fs::exists(dir.path() / "hub" / ".locks" / "models--org--model" / (sha + ".lock")));
  EXPECT_FALSE(fs::exists(storage() / "blobs" / (sha + ".incomplete")));

  // A regular (non-LFS) file is named by its git etag.
  fs::path c = repo().download("config.json");
  EXPECT_EQ(fs::read_symlink(c), fs::path("../../blobs/" + FakeHub::git_etag(config)));
  EXPECT_EQ(read_file(c), config);
  // The LFS content came from the redirect target; the HEAD was not followed there.
  EXPECT_EQ(hub.count("GET", "/cdn/"), 1);
  EXPECT_EQ(hub.count("HEAD", "/cdn/"), 0);
  for (const auto& r : hub.requests())
    if (r.method == "HEAD") {
      EXPECT_EQ(r.header("accept-encoding"), "identity");
    }
}

TEST_F(HubDownload, CachedFileIsReusedWithoutDownloading) {
  fs::path p = repo().download("onnx/model.onnx");
  hub.clear_log();
  // Branch revision: one HEAD to check for a newer commit, no GET.
  EXPECT_EQ(repo().download("onnx/model.onnx"), p);
  EXPECT_EQ(hub.count("HEAD"), 1);
  EXPECT_EQ(hub.count("GET"), 0);
  // Commit revision: immutable, no request at all.
  hub.clear_log();
  EXPECT_EQ(repo().revision(kCommit).download("onnx/model.onnx"), p);
  EXPECT_EQ(hub.requests().size(), 0u);
}

TEST_F(HubDownload, SameContentAtNewCommitReusesBlob) {
  repo().download("onnx/model.onnx");
  hub.add_file(kRepo, kCommit2, "onnx/model.onnx", weights, true);  // main moves, same content
  hub.clear_log();
  fs::path p = repo().download("onnx/model.onnx");
  EXPECT_EQ(p, storage() / "snapshots" / kCommit2 / "onnx" / "model.onnx");
  EXPECT_EQ(read_file(storage() / "refs" / "main"), kCommit2);
  EXPECT_EQ(hub.count("GET"), 0);
  EXPECT_EQ(read_file(p), weights);
}

TEST_F(HubDownload, OfflineHitAndMiss) {
  repo().download("config.json");
  hub.clear_log();
  opts.offline = true;
  EXPECT_EQ(read_file(repo().download("config.json")), config);
  EXPECT_EQ(repo().snapshot_path(), storage() / "snapshots" / kCommit);
  auto e = expect_hub_error([&] { repo().download("onnx/model.onnx"); });
  EXPECT_EQ(e.kind(), HubError::Kind::OfflineMiss);
  EXPECT_CONTAINS(e.what(), "HF_HUB_OFFLINE");
  EXPECT_CONTAINS(e.what(), "'onnx/model.onnx'");
  EXPECT_CONTAINS(e.what(), "'org/model'");
  EXPECT_CONTAINS(e.what(), "'main'");
  auto e2 = expect_hub_error([&] { Repo("org/other", opts).revision("v2").download("x.bin"); });
  EXPECT_CONTAINS(e2.what(), "no refs/v2");
  EXPECT_EQ(hub.requests().size(), 0u);
}

TEST_F(HubDownload, MissingFileIsRecordedInNoExist) {
  auto e = expect_hub_error([&] { repo().download("nope/missing.txt"); });
  EXPECT_EQ(e.kind(), HubError::Kind::NotFound);
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_CONTAINS(e.what(), "file not found: 'nope/missing.txt'");
  EXPECT_CONTAINS(e.what(), "'org/model'");
  EXPECT_TRUE(fs::is_regular_file(storage() / ".no_exist" / kCommit / "nope" / "missing.txt"));
  EXPECT_EQ(read_file(storage() / "refs" / "main"), kCommit);
  opts.offline = true;
  auto off = expect_hub_error([&] { repo().download("nope/missing.txt"); });
  EXPECT_EQ(off.kind(), HubError::Kind::NotFound);
  EXPECT_CONTAINS(off.what(), ".no_exist");
}

TEST_F(HubDownload, ResumesPartialIncompleteWithRange) {
  const std::string sha = FakeHub::sha256(weights);
  const std::size_t have = 70000;
  hubtest::write_file(storage() / "blobs" / (sha + ".incomplete"), weights.substr(0, have));
  fs::path p = repo().download("onnx/model.onnx");
  EXPECT_EQ(read_file(p), weights);
  bool saw_range = false;
  for (const auto& r : hub.requests())
    if (r.method == "GET" && r.path.rfind("/cdn/", 0) == 0) {
      EXPECT_EQ(r.header("range"), "bytes=" + std::to_string(have) + "-");
      saw_range = true;
    }
  EXPECT_TRUE(saw_range);
  EXPECT_FALSE(fs::exists(storage() / "blobs" / (sha + ".incomplete")));
}

TEST_F(HubDownload, ServerIgnoringRangeRestartsFromZero) {
  hub.ignore_ranges(true);
  const std::string sha = FakeHub::sha256(weights);
  hubtest::write_file(storage() / "blobs" / (sha + ".incomplete"), weights.substr(0, 5000));
  EXPECT_EQ(read_file(repo().download("onnx/model.onnx")), weights);
  EXPECT_EQ(hub.requests().back().header("range"), "bytes=5000-");
}

TEST_F(HubDownload, OversizedStaleIncompleteIsDiscarded) {
  const std::string sha = FakeHub::sha256(weights);
  hubtest::write_file(storage() / "blobs" / (sha + ".incomplete"), weights + "trailing junk");
  EXPECT_EQ(read_file(repo().download("onnx/model.onnx")), weights);
  EXPECT_EQ(hub.requests().back().header("range"), "");
}

TEST_F(HubDownload, EmptyFiles) {
  hub.add_file(kRepo, kCommit, "empty.txt", "");
  hub.add_file(kRepo, kCommit, "empty.lfs", "", true);
  EXPECT_EQ(fs::file_size(repo().download("empty.txt")), 0u);
  fs::path p = repo().download("empty.lfs");
  EXPECT_EQ(fs::file_size(p), 0u);
  EXPECT_EQ(fs::read_symlink(p).filename(), FakeHub::sha256(""));
}

TEST_F(HubDownload, InterruptedTransferIsResumedAutomatically) {
  hub.cut_next_downloads(2, 50000);  // the first two GETs stop after 50000 bytes
  fs::path p = repo().download("onnx/model.onnx");
  EXPECT_EQ(read_file(p), weights);
  std::vector<std::string> ranges;
  for (const auto& r : hub.requests())
    if (r.method == "GET" && r.path.rfind("/cdn/", 0) == 0) ranges.push_back(r.header("range"));
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=50000-");
  EXPECT_EQ(ranges[2], "bytes=100000-");
}

TEST_F(HubDownload, InterruptionBeyondRetriesKeepsPartialForNextCall) {
  opts.max_retries = 0;
  hub.cut_next_downloads(1, 30000);
  const std::string sha = FakeHub::sha256(weights);
  auto e = expect_hub_error([&] { repo().download("onnx/model.onnx"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Network);
  EXPECT_CONTAINS(e.what(), "resumes");
  EXPECT_EQ(fs::file_size(storage() / "blobs" / (sha + ".incomplete")), 30000u);
  EXPECT_FALSE(fs::exists(storage() / "snapshots" / kCommit / "onnx" / "model.onnx"));
  hub.clear_log();
  EXPECT_EQ(read_file(repo().download("onnx/model.onnx")), weights);
  EXPECT_EQ(hub.requests().back().header("range"), "bytes=30000-");
}

TEST_F(HubDownload, CorruptContentIsRejected) {
  hub.corrupt_content(true);
  const std::string sha = FakeHub::sha256(weights);
  auto e = expect_hub_error([&] { repo().download("onnx/model.onnx"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Corrupt);
  EXPECT_CONTAINS(e.what(), "sha256 mismatch");
  EXPECT_CONTAINS(e.what(), sha);
  EXPECT_CONTAINS(e.what(), "'onnx/model.onnx'");
  EXPECT_FALSE(fs::exists(storage() / "blobs" / sha));
  EXPECT_FALSE(fs::exists(storage() / "blobs" / (sha + ".incomplete")));
  EXPECT_FALSE(fs::exists(storage() / "snapshots" / kCommit / "onnx" / "model.onnx"));
  hub.corrupt_content(false);
  EXPECT_EQ(read_file(repo().download("onnx/model.onnx")), weights);
}

TEST_F(HubDownload, CorruptPartialFileIsRejectedAfterResume) {
  const std::string sha = FakeHub::sha256(weights);
  std::string bad = weights.substr(0, 1000);
  bad[10] ^= 1;
  hubtest::write_file(storage() / "blobs" / (sha + ".incomplete"), bad);
  auto e = expect_hub_error([&] { repo().download("onnx/model.onnx"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Corrupt);
  EXPECT_FALSE(fs::exists(storage() / "blobs" / (sha + ".incomplete")));
}

TEST_F(HubDownload, TokenIsSentAsBearer) {
  hub.require_token("hf_secret");
  opts.token = "hf_secret";
  EXPECT_EQ(read_file(repo().download("config.json")), config);
  for (const auto& r : hub.requests()) {
    EXPECT_EQ(r.header("authorization"), "Bearer hf_secret") << r.path;
  }
}

TEST_F(HubDownload, TokenIsNotSentToCdnOnAnotherHost) {
  FakeHub cdn;  // another origin (port); serves /cdn/<sha256> of the same content
  cdn.add_file(kRepo, kCommit, "onnx/model.onnx", weights, true);
  hub.set_cdn(cdn.endpoint());
  hub.require_token("hf_secret");
  opts.token = "hf_secret";
  EXPECT_EQ(read_file(repo().download("onnx/model.onnx")), weights);
  EXPECT_EQ(hub.count("HEAD", "/org/model/resolve/main/onnx/model.onnx"), 1);
  EXPECT_EQ(hub.requests().front().header("authorization"), "Bearer hf_secret");
  ASSERT_EQ(cdn.count("GET", "/cdn/"), 1);
  EXPECT_EQ(cdn.requests().front().header("authorization"), "");
}

TEST_F(HubDownload, NoTokenNoAuthorizationHeader) {
  repo().download("config.json");
  for (const auto& r : hub.requests()) {
    EXPECT_EQ(r.header("authorization"), "");
  }
}

TEST_F(HubDownload, PrivateRepoWithoutToken401) {
  hub.require_token("hf_secret");
  auto e = expect_hub_error([&] { repo().download("config.json"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Unauthorized);
  EXPECT_EQ(e.http_status(), 401);
  EXPECT_CONTAINS(e.what(), "HF_TOKEN");
  EXPECT_CONTAINS(e.what(), "org/model");
  opts.token = "hf_wrong";
  auto e2 = expect_hub_error([&] { repo().download("config.json"); });
  EXPECT_CONTAINS(e2.what(), "token that was sent was refused");
}

TEST_F(HubDownload, GatedRepo403) {
  hub.require_token("hf_secret", /*gated=*/true);
  auto e = expect_hub_error([&] { repo().download("config.json"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Unauthorized);
  EXPECT_EQ(e.http_status(), 403);
  EXPECT_CONTAINS(e.what(), "gated");
  EXPECT_CONTAINS(e.what(), "HF_TOKEN");
}

TEST_F(HubDownload, NotFoundNamesRepoRevisionOrFile) {
  auto repo404 = expect_hub_error([&] { Repo("org/absent", opts).download("config.json"); });
  EXPECT_CONTAINS(repo404.what(), "repository not found: model 'org/absent'");
  auto rev404 = expect_hub_error([&] { repo().revision("v9").download("config.json"); });
  EXPECT_EQ(rev404.kind(), HubError::Kind::NotFound);
  EXPECT_CONTAINS(rev404.what(), "revision not found: 'v9'");
  auto file404 = expect_hub_error([&] { repo().download("absent.bin"); });
  EXPECT_CONTAINS(file404.what(), "file not found: 'absent.bin'");
}

TEST_F(HubDownload, ServerError500NamesEndpoint) {
  hub.force_status(500);
  auto e = expect_hub_error([&] { repo().download("config.json"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Server);
  EXPECT_EQ(e.http_status(), 500);
  EXPECT_CONTAINS(e.what(), hub.endpoint());
  EXPECT_CONTAINS(e.what(), "'config.json'");
}

TEST_F(HubDownload, ServerErrorFallsBackToCache) {
  fs::path p = repo().download("config.json");
  hub.force_status(503);
  EXPECT_EQ(repo().download("config.json"), p);
  EXPECT_EQ(repo().commit(), kCommit);
}

TEST_F(HubDownload, NetworkFailureNamesEndpoint) {
  std::string dead;
  {
    FakeHub gone;  // take a free port, then stop listening on it
    dead = gone.endpoint();
  }
  opts.endpoint = dead;
  auto e = expect_hub_error([&] { repo().download("config.json"); });
  EXPECT_EQ(e.kind(), HubError::Kind::Network);
  EXPECT_CONTAINS(e.what(), "cannot reach " + dead);
  EXPECT_CONTAINS(e.what(), "HF_HUB_OFFLINE");
}

TEST_F(HubDownload, RelativeRedirectOfRenamedRepoIsFollowed) {
  hub.rename_repo("org/old-name", kRepo);
  fs::path p = Repo("org/old-name", opts).download("config.json");
  EXPECT_EQ(read_file(p), config);
  EXPECT_EQ(p, dir.path() / "hub" / "models--org--old-name" / "snapshots" / kCommit / "config.json");
  EXPECT_GE(hub.count("HEAD", "/org/old-name/"), 1);
  EXPECT_GE(hub.count("HEAD", "/org/model/"), 1);
}

TEST_F(HubDownload, DatasetsAndPullRequestRevisions) {
  hub.add_file("org/data", kCommit2, "train.csv", "a,b\n1,2\n", false, "refs/pr/1", "dataset");
  Repo ds("org/data", opts);
  ds.repo_type(RepoType::Dataset).revision("refs/pr/1");
  fs::path p = ds.download("train.csv");
  const fs::path s = dir.path() / "hub" / "datasets--org--data";
  EXPECT_EQ(p, s / "snapshots" / kCommit2 / "train.csv");
  EXPECT_EQ(read_file(s / "refs" / "refs" / "pr" / "1"), kCommit2);
  bool quoted = false;
  for (const auto& r : hub.requests()) quoted |= r.target == "/datasets/org/data/resolve/refs%2Fpr%2F1/train.csv";
  EXPECT_TRUE(quoted);
}

TEST_F(HubDownload, ApiListFilesSnapshotAndDownloadAll) {
  EXPECT_EQ(repo().list_files(), (std::vector<std::string>{"config.json", "onnx/model.onnx"}));
  EXPECT_EQ(hub.count("GET", "/api/models/org/model/revision/main"), 1);
  EXPECT_EQ(repo().commit(), kCommit);
  EXPECT_EQ(repo().snapshot_path(), storage() / "snapshots" / kCommit);
  fs::path snap = repo().download_all();
  EXPECT_EQ(snap, storage() / "snapshots" / kCommit);
  EXPECT_EQ(read_file(snap / "config.json"), config);
  EXPECT_EQ(read_file(snap / "onnx" / "model.onnx"), weights);
  opts.offline = true;
  EXPECT_EQ(repo().list_files(), (std::vector<std::string>{"config.json", "onnx/model.onnx"}));
  auto e = expect_hub_error([&] { Repo("org/absent", opts).list_files(); });
  EXPECT_EQ(e.kind(), HubError::Kind::OfflineMiss);
}

TEST_F(HubDownload, ProgressBarOnStderr) {
  opts.progress = graft::hub::Progress::Always;
  ::testing::internal::CaptureStderr();
  repo().download("onnx/model.onnx");
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_CONTAINS(err, "onnx/model.onnx");
  EXPECT_CONTAINS(err, "100%");
  EXPECT_EQ(graft::hub::detail::ProgressBar::human(204800), "204.8kB");
}
