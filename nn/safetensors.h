#pragma once
// Checkpoint files in the safetensors format (https://github.com/huggingface/safetensors), so that
// gradscope checkpoints open in other tools and other tools' f32/f64/i64/u8 files open here.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header (padded with spaces so
// that the data starts at a multiple of 8), then the data buffer: every tensor's raw little-endian
// row-major bytes. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end]} (byte offsets into the data buffer) and may hold "__metadata__": {string: string}.
//
// safetensors has no checksum, so save_safetensors also stores the zlib CRC32 of every tensor's
// bytes in the metadata under "gradscope.crc32.<name>" (8 lowercase hex digits), and
// load_safetensors verifies those keys when present. Files written by other tools, without them,
// still load.
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace gs::nn {

// Metadata keys starting with this prefix are reserved for the per-tensor CRC32s.
inline constexpr const char* kSafetensorsCrcPrefix = "gradscope.crc32.";

// Writes `tensors` (any device, any strides; saved as contiguous little-endian bytes, laid out in
// the order given) and `metadata` to `path` atomically: the bytes go to a temporary file in the
// same directory, which is fsynced and renamed over `path`, and then the directory is fsynced. On
// failure it throws gs::Error naming the path and the cause, removes the temporary file and leaves
// any previous file at `path` untouched.
// Throws on: an empty, duplicate or "__metadata__" name, an undefined tensor, a metadata key with
// the reserved CRC prefix.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// What load_safetensors returns: the tensors in file order (ascending data offset, which for files
// written by save_safetensors is the order they were saved in) and the metadata without the
// reserved "gradscope.crc32.*" keys (so saving and loading returns the metadata given).
struct SafetensorsFile {
    std::vector<std::pair<std::string, Tensor>> tensors;
    std::map<std::string, std::string> metadata;
};

// Reads a safetensors file into contiguous CPU tensors. Throws gs::Error naming the file and the
// defect when: the file is shorter than 8 bytes, the header length exceeds the file, the header is
// not a JSON object or has a duplicate key, a dtype is not F32/F64/I64/U8 (the dtype is named), a
// shape or data_offsets is malformed, end - begin != numel * itemsize, a range lies outside the data
// buffer, the ranges overlap, leave a gap or leave trailing bytes, a metadata value is not a string,
// or a stored CRC32 does not match the tensor's bytes (or names a tensor the file lacks).
SafetensorsFile load_safetensors(const std::filesystem::path& path);

}  // namespace gs::nn
