#pragma once
// Atomic file replacement, the one way gradscope writes anything that must survive a crash
// (checkpoints, randomization records, dataset caches, run summaries): readers see the old file or
// the complete new one, never a torn one.
#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

namespace gs {

// A part of a file's bytes, so a header and a large payload need not be joined in memory first.
struct ByteSpan {
    const void* data;
    std::size_t size;
};

// Writes the parts, in order, to a new hidden temporary file in the folder of `path` (same file
// system, so the rename is atomic), fsyncs it, renames it over `path` and fsyncs the folder so the
// rename itself is durable. The temporary file gets mode 0666 minus the umask, like any new file.
// Throws gs::Error naming `path` and the failing step with the system's reason; before the rename
// succeeds a failure removes the temporary file and leaves any previous `path` untouched.
void write_file_atomic(const std::filesystem::path& path, const std::vector<ByteSpan>& parts);
void write_file_atomic(const std::filesystem::path& path, const void* data, std::size_t n);
void write_file_atomic(const std::filesystem::path& path, std::string_view text);

}  // namespace gs
