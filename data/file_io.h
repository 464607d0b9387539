#pragma once
// File helpers shared by the dataset readers: whole-file reads (plain or gzip, sniffed by content)
// and "name the file" error context (atomic writes: tensor/atomic_file.h). No dataset format knowledge lives here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/atomic_file.h"  // the readers' caches and records are written with it

namespace gs::data {

// All bytes of `path`. Throws gs::Error naming the path when it cannot be opened or read.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

// The bytes of `path`, decompressed when the file starts with the gzip magic 1F 8B (whatever its
// name), else as stored. A truncated or corrupt gzip stream throws gs::Error naming the path and
// zlib's reason; it is never returned partially. With max_bytes, at most max_bytes + 1 bytes are
// read (the extra one shows that the content is longer), so a gzip bomb cannot exhaust memory.
std::vector<std::uint8_t> read_maybe_gzip(const std::string& path, std::uint64_t max_bytes = UINT64_MAX);

// The lines of a text file with trailing whitespace (and '\r') removed and empty lines dropped.
std::vector<std::string> read_text_lines(const std::string& path);

// The size of `path` in bytes; throws naming the path when it is not a readable regular file.
std::uint64_t file_size_checked(const std::string& path);

}  // namespace gs::data
