#include "backend/cuda/nvrtc.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "backend/cuda/check.h"
#include "backend/cuda/codegen.h"

namespace graft::cuda {

namespace fs = std::filesystem;

namespace {

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex16(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

fs::path cache_dir() {
  if (const char* d = std::getenv("GRAFT_CUDA_CACHE")) {
    if (std::string(d) == "off" || std::string(d) == "0") return {};
    return fs::path(d);
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "graft" / "cuda";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "graft" / "cuda";
  return {};
}

constexpr char kMagic[] = "GRAFTCUBIN1\n";

// Cache file: magic, 8-byte source length, source, cubin.
std::shared_ptr<std::vector<char>> read_cache_file(const fs::path& p, const std::string& source) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return nullptr;
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t m = sizeof(kMagic) - 1;
  if (data.size() < m + 8 || data.compare(0, m, kMagic) != 0) return nullptr;
  uint64_t n = 0;
  std::memcpy(&n, data.data() + m, 8);
  if (data.size() < m + 8 + n || data.compare(m + 8, n, source) != 0) return nullptr;
  auto cubin = std::make_shared<std::vector<char>>(data.begin() + std::ptrdiff_t(m + 8 + n), data.end());
  return cubin->empty() ? nullptr : cubin;
}

// Written to a temporary name and renamed; failures only mean no disk cache.
void write_cache_file(const fs::path& p, const std::string& source, const std::vector<char>& cubin) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) return;
  fs::path tmp = p;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    uint64_t n = source.size();
    f.write(kMagic, sizeof(kMagic) - 1);
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(source.data(), std::streamsize(source.size()));
    f.write(cubin.data(), std::streamsize(cubin.size()));
    if (!f) {
      f.close();
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, p, ec);
  if (ec) fs::remove(tmp, ec);
}

std::string head_of(const std::string& source, int lines) {
  std::istringstream in(source);
  std::string line, out;
  for (int i = 1; i <= lines && std::getline(in, line); ++i) out += std::to_string(i) + ": " + line + "\n";
  return out;
}

std::vector<char> nvrtc_compile(const std::string& source, int arch) {
  nvrtcProgram prog;
  const char* header = scalar_header_source();
  const char* header_name = "graft_scalar.cuh";
  GRAFT_NVRTC(nvrtcCreateProgram(&prog, source.c_str(), "graft_generated.cu", 1, &header, &header_name),
              "creating an NVRTC program");
  struct Destroy {
    nvrtcProgram* p;
    ~Destroy() { nvrtcDestroyProgram(p); }
  } destroy{&prog};
  const std::string arch_opt = "--gpu-architecture=sm_" + std::to_string(arch);
  const char* opts[] = {arch_opt.c_str(), "--std=c++17"};
  nvrtcResult r = nvrtcCompileProgram(prog, 2, opts);
  if (r != NVRTC_SUCCESS) {
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, '\0');
    if (n) nvrtcGetProgramLog(prog, log.data());
    fail("NVRTC could not compile generated CUDA code for sm_", arch, " (", nvrtcGetErrorString(r), "):\n", log,
         "\nsource (first lines):\n", head_of(source, 60));
  }
  size_t n = 0;
  GRAFT_NVRTC(nvrtcGetCUBINSize(prog, &n), "reading the compiled cubin's size");
  std::vector<char> cubin(n);
  GRAFT_NVRTC(nvrtcGetCUBIN(prog, cubin.data()), "reading the compiled cubin");
  return cubin;
}

}  // namespace

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::shared_ptr<const std::vector<char>> compile_to_cubin(const std::string& source, int arch, CompileStats* stats) {
  static std::mutex mu;
  static auto* memory = new std::map<std::string, std::shared_ptr<const std::vector<char>>>();  // key: arch + source
  const std::string key = "sm_" + std::to_string(arch) + " nvrtc " + nvrtc_version() + "\n" + source;
  auto t0 = std::chrono::steady_clock::now();
  CompileStats local;
  CompileStats& st = stats ? *stats : local;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memory->find(key);
    if (it != memory->end()) {
      st.memory_hit = true;
      return it->second;
    }
  }
  std::shared_ptr<const std::vector<char>> cubin;
  const fs::path dir = cache_dir();
  const fs::path file = dir.empty() ? fs::path() : dir / (hex16(fnv1a(key)) + ".cubin");
  if (!file.empty()) {
    cubin = read_cache_file(file, key);
    st.disk_hit = cubin != nullptr;
  }
  if (!cubin) {
    auto fresh = std::make_shared<std::vector<char>>(nvrtc_compile(source, arch));
    if (!file.empty()) write_cache_file(file, key, *fresh);
    cubin = fresh;
  }
  st.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> lock(mu);
  memory->emplace(key, cubin);
  return cubin;
}

}  // namespace graft::cuda
