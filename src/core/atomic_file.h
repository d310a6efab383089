#pragma once
// Writes a file so that a reader never sees it half-written and an existing file survives a failed
// write: the bytes go to "<path>.tmp-<pid>-<n>" in the same folder, are flushed, then renamed over path.
#include <filesystem>
#include <functional>
#include <ostream>

namespace graft {

void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& writer);

}  // namespace graft
