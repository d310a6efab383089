// safetensors reading/writing and context checkpoints.
#include "graft/context/checkpoint.h"

#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/bool_data.h"

namespace graft {

using nlohmann::json;

namespace {

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kNames[] = {
    {DType::Bool, "BOOL"}, {DType::U8, "U8"},   {DType::I8, "I8"},   {DType::I16, "I16"}, {DType::U16, "U16"},
    {DType::F16, "F16"},   {DType::BF16, "BF16"}, {DType::I32, "I32"}, {DType::U32, "U32"}, {DType::F32, "F32"},
    {DType::F64, "F64"},   {DType::I64, "I64"}, {DType::U64, "U64"},
};

std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  GRAFT_CHECK(in, "safetensors: cannot open ", path.string());
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  GRAFT_CHECK(!in.bad(), "safetensors: error reading ", path.string());
  return s;
}

}  // namespace

std::string safetensors_dtype(DType t) {
  for (const auto& n : kNames)
    if (n.dtype == t) return n.name;
  fail("safetensors: no dtype name for ", dtype_name(t));
}

DType dtype_from_safetensors(const std::string& s, const std::string& what) {
  for (const auto& n : kNames)
    if (s == n.name) return n.dtype;
  fail(what, ": unsupported safetensors dtype \"", s, "\"");
}

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    GRAFT_CHECK(name != "__metadata__" && !header.contains(name), "safetensors: duplicate or reserved tensor name \"",
                name, "\"");
    // A device tensor is copied to the host when its bytes are read below.
    GRAFT_CHECK(t.defined(), "safetensors: tensor \"", name, "\" is undefined");
    header[name] = {{"dtype", safetensors_dtype(t.dtype())},
                    {"shape", t.shape().dims()},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');  // the data starts 8-byte aligned, as HF's writer does
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  out += h;
  for (const auto& [name, t] : tensors) out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string bytes = serialize_safetensors(tensors, metadata);
  write_file_atomically(path, [&](std::ostream& os) { os.write(bytes.data(), std::streamsize(bytes.size())); });
}

SafetensorsFile parse_safetensors(const void* data, size_t nbytes, const std::string& what) {
  const auto* p = static_cast<const unsigned char*>(data);
  GRAFT_CHECK(nbytes >= 8, what, ": truncated safetensors file (", nbytes, " bytes, the 8-byte header length is missing)");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= uint64_t(p[i]) << (8 * i);
  GRAFT_CHECK(hlen <= nbytes - 8, what, ": safetensors header length ", hlen, " runs beyond the file (", nbytes,
              " bytes): truncated or not a safetensors file");
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(p + 8), reinterpret_cast<const char*>(p + 8 + hlen));
  } catch (const json::exception& e) {
    fail(what, ": safetensors header is not valid JSON: ", e.what());
  }
  GRAFT_CHECK(header.is_object(), what, ": safetensors header is not a JSON object");
  const uint64_t data_size = nbytes - 8 - hlen;
  const unsigned char* base = p + 8 + hlen;
  SafetensorsFile out;
  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      GRAFT_CHECK(e.is_object(), what, ": __metadata__ must be an object of strings");
      for (auto m = e.begin(); m != e.end(); ++m) {
        GRAFT_CHECK(m.value().is_string(), what, ": __metadata__ value \"", m.key(), "\" is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string tw = what + ": tensor \"" + name + "\"";
    GRAFT_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), tw,
                ": entry needs dtype, shape and data_offsets");
    GRAFT_CHECK(e["dtype"].is_string(), tw, ": dtype is not a string");
    DType dt = dtype_from_safetensors(e["dtype"].get<std::string>(), tw);
    GRAFT_CHECK(e["shape"].is_array(), tw, ": shape is not an array");
    std::vector<int64_t> dims;
    GRAFT_CHECK(e["shape"].size() <= 64, tw, ": shape has ", e["shape"].size(), " axes (at most 64)");
    for (const json& d : e["shape"]) {
      GRAFT_CHECK((d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX)) ||
                      (d.is_number_integer() && d.get<int64_t>() >= 0),
                  tw, ": shape holds a non-integer, negative or too large extent");
      dims.push_back(d.get<int64_t>());
    }
    const json& off = e["data_offsets"];
    GRAFT_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), tw,
                ": data_offsets must be two non-negative integers");
    uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    GRAFT_CHECK(b <= en && en <= data_size, tw, ": data_offsets [", b, ", ", en, "] out of range (the data section has ",
                data_size, " bytes)");
    Shape shape = [&] {
      try {
        return Shape(dims);
      } catch (const Error& err) {
        fail(tw, ": ", err.what());
      }
    }();
    uint64_t want = uint64_t(shape.size()) * dtype_size(dt);
    GRAFT_CHECK(en - b == want, tw, ": ", en - b, " bytes for ", e["dtype"].get<std::string>(), shape, " which needs ",
                want);
    ranges.push_back({b, en, name});
    Tensor value = Tensor::from_bytes(dt, shape, base + b, size_t(want));
    normalize_bool_bytes(value);
    out.tensors.emplace_back(name, std::move(value));
  }
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a].begin < ranges[b].begin; });
  uint64_t cursor = 0;
  for (size_t i : order) {
    const Range& r = ranges[i];
    GRAFT_CHECK(r.begin >= cursor, what, ": tensor \"", r.name, "\" data [", r.begin, ", ", r.end,
                "] overlaps the previous tensor (which ends at ", cursor, ")");
    GRAFT_CHECK(r.begin == cursor, what, ": gap in the data section before tensor \"", r.name, "\" (", cursor, " to ",
                r.begin, ")");
    cursor = r.end;
  }
  GRAFT_CHECK(cursor == data_size, what, ": the data section has ", data_size, " bytes but the tensors cover ", cursor,
              " (trailing bytes or truncated header)");
  std::vector<std::pair<std::string, Tensor>> sorted;
  for (size_t i : order) sorted.push_back(std::move(out.tensors[i]));
  out.tensors = std::move(sorted);
  return out;
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  std::string bytes = read_whole_file(path);
  return parse_safetensors(bytes.data(), bytes.size(), path.string());
}

// ---- context checkpoints -------------------------------------------------------------------------------

namespace {
std::filesystem::path json_path(const std::filesystem::path& p) { return std::filesystem::path(p.string() + ".json"); }

json hparam_to_json(const HParam& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}
HParam hparam_from_json(const json& j, const std::string& what) {
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  fail(what, ": hyper-parameter of unsupported JSON type");
}
}  // namespace

void save_context(const Context& ctx, const std::filesystem::path& path, const CheckpointExtra& extra) {
  Context root = ctx;  // the store is shared; take every variable regardless of scope
  std::vector<std::pair<std::string, Tensor>> tensors;
  json vars = json::array();
  const Context& r = root;
  for (const Variable* v : r.variables()) {
    tensors.emplace_back(v->name, v->value);
    vars.push_back({{"name", v->name}, {"trainable", v->trainable}, {"origin", v->origin}});
  }
  json extra_json = json::object();
  for (const auto& [k, v] : extra) extra_json[k] = hparam_to_json(v);
  json meta = {{"format", "graft-checkpoint"}, {"version", 1}, {"variables", vars}, {"extra", extra_json}};
  json hp = json::object();
  for (const auto& [k, v] : ctx.hparams()) hp[k] = hparam_to_json(v);
  meta["hparams"] = hp;
  // Variables first, JSON second: a JSON file present means its safetensors is complete.
  write_safetensors(path, tensors, {{"format", "pt"}, {"producer", "graft"}});
  std::string text = meta.dump(2);
  write_file_atomically(json_path(path), [&](std::ostream& os) { os << text << "\n"; });
}

CheckpointExtra load_context(Context& ctx, const std::filesystem::path& path, bool strict) {
  SafetensorsFile f = read_safetensors(path);
  std::filesystem::path jp = json_path(path);
  const std::string jw = "checkpoint: " + jp.string();
  json meta;
  {
    std::ifstream in(jp);
    GRAFT_CHECK(in, "checkpoint: cannot open ", jp.string(), " (the JSON beside ", path.string(), ")");
    try {
      meta = json::parse(in);
    } catch (const json::exception& e) {
      fail(jw, " is not valid JSON: ", e.what());
    }
  }
  GRAFT_CHECK(meta.is_object() && meta.value("format", json()) == "graft-checkpoint", jw,
              " is not a graft checkpoint description");
  // Everything read from the JSON is type-checked: a hand-edited or corrupted file gives an error naming it.
  std::map<std::string, std::pair<std::optional<bool>, std::optional<std::string>>> info;  // trainable, origin
  if (meta.contains("variables")) {
    GRAFT_CHECK(meta["variables"].is_array(), jw, ": \"variables\" must be an array");
    for (const json& v : meta["variables"]) {
      GRAFT_CHECK(v.is_object() && v.contains("name") && v["name"].is_string(), jw,
                  ": every entry of \"variables\" needs a string \"name\"");
      auto& [trainable, origin] = info[v["name"].get<std::string>()];
      if (v.contains("trainable")) {
        GRAFT_CHECK(v["trainable"].is_boolean(), jw, ": \"trainable\" of variable \"", v["name"].get<std::string>(),
                    "\" must be true or false");
        trainable = v["trainable"].get<bool>();
      }
      if (v.contains("origin")) {
        GRAFT_CHECK(v["origin"].is_string(), jw, ": \"origin\" of variable \"", v["name"].get<std::string>(),
                    "\" must be a string");
        origin = v["origin"].get<std::string>();
      }
    }
  }
  GRAFT_CHECK(!meta.contains("hparams") || meta["hparams"].is_object(), jw, ": \"hparams\" must be an object");
  if (strict) {
    for (const Variable* v : static_cast<const Context&>(ctx).variables()) {
      bool found = f.find(v->name) != nullptr || (v->name.size() > 1 && f.find(v->name.substr(1)) != nullptr);
      GRAFT_CHECK(found, "checkpoint: ", path.string(), " has no tensor for variable \"", v->name, "\"");
    }
  }
  for (const auto& [name, t] : f.tensors) {
    const std::string full = name.empty() || name[0] != '/' ? "/" + name : name;
    Variable* v = ctx.find(full);
    if (v) {
      GRAFT_CHECK(v->value.dtype() == t.dtype() && v->value.shape() == t.shape(), "checkpoint: ", path.string(),
                  ": tensor \"", name, "\" is ", dtype_name(t.dtype()), t.shape(), " but the variable is ",
                  dtype_name(v->value.dtype()), v->value.shape());
      v->value = t;
    } else {
      try {
        v = &ctx.variable(full, t);
      } catch (const Error& e) {
        fail("checkpoint: ", path.string(), ": tensor \"", name, "\": ", e.what());
      }
    }
    auto it = info.find(name);
    if (it != info.end()) {
      if (it->second.first) v->trainable = *it->second.first;
      if (it->second.second) v->origin = *it->second.second;
    }
  }
  if (meta.contains("hparams"))
    for (auto it = meta["hparams"].begin(); it != meta["hparams"].end(); ++it)
      ctx.set_hparam(it.key(), hparam_from_json(it.value(), jp.string() + ": hyper-parameter \"" + it.key() + "\""));
  CheckpointExtra extra;
  if (meta.contains("extra") && meta["extra"].is_object())
    for (auto it = meta["extra"].begin(); it != meta["extra"].end(); ++it)
      extra[it.key()] = hparam_from_json(it.value(), jp.string() + " (extra \"" + it.key() + "\")");
  return extra;
}

namespace {
// flock(2) on <dir>/.lock for the lifetime of the object: CheckpointManager's savers (threads or processes)
// take it exclusively, so a safetensors file and its JSON always come from the same save and pruning never
// deletes what another saver is writing; restore takes it shared, so it never reads a pair half replaced.
class FolderLock {
 public:
  FolderLock(const std::filesystem::path& dir, bool exclusive) {
    std::filesystem::path p = dir / ".lock";
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    GRAFT_CHECK(fd_ >= 0, "checkpoint: cannot open lock file ", p.string(), ": ", std::strerror(errno));
    while (::flock(fd_, exclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd_);
      fail("checkpoint: cannot lock ", p.string(), ": ", std::strerror(e));
    }
  }
  ~FolderLock() { ::close(fd_); }  // closing releases the lock
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};
}  // namespace

CheckpointManager::CheckpointManager(std::filesystem::path dir, int keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {
  GRAFT_CHECK(keep_last_ >= 1, "CheckpointManager: keep_last must be >= 1, got ", keep_last_);
}

std::filesystem::path CheckpointManager::path_for(int64_t step) const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "ckpt-%09lld.safetensors", static_cast<long long>(step));
  return dir_ / buf;
}

std::vector<int64_t> CheckpointManager::steps() const {
  std::vector<int64_t> out;
  if (!std::filesystem::is_directory(dir_)) return out;
  static const std::regex re(R"(ckpt-(\d+)\.safetensors\.json)");
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    std::smatch m;
    std::string fn = e.path().filename().string();
    if (!std::regex_match(fn, m, re) || m[1].length() > 18) continue;  // 18 digits fit an int64_t
    if (std::filesystem::exists(dir_ / fn.substr(0, fn.size() - 5))) out.push_back(std::stoll(m[1].str()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<int64_t> CheckpointManager::latest() const {
  auto s = steps();
  if (s.empty()) return std::nullopt;
  return s.back();
}

std::filesystem::path CheckpointManager::save(const Context& ctx, int64_t step, const CheckpointExtra& extra) {
  std::filesystem::create_directories(dir_);
  FolderLock lock(dir_, /*exclusive=*/true);
  CheckpointExtra e = extra;
  e["step"] = step;
  std::filesystem::path p = path_for(step);
  save_context(ctx, p, e);
  auto s = steps();
  while (int(s.size()) > keep_last_) {
    std::filesystem::path old = path_for(s.front());
    std::filesystem::remove(json_path(old));  // JSON first: a lone safetensors is never listed
    std::filesystem::remove(old);
    s.erase(s.begin());
  }
  return p;
}

std::optional<CheckpointExtra> CheckpointManager::restore(Context& ctx, std::optional<int64_t> step) const {
  if (!std::filesystem::is_directory(dir_)) return std::nullopt;
  FolderLock lock(dir_, /*exclusive=*/false);
  if (!step) step = latest();
  if (!step) return std::nullopt;
  return load_context(ctx, path_for(*step));
}

}  // namespace graft
