#pragma once
// Content hashes of datasets: 64-bit, stable across runs, machines of either byte order and thread
// counts. For recognising "the same data" in logs and run directories; not cryptographic.
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace gs::data {

// Hash of n bytes. Definition (version 1), so it can be re-implemented elsewhere:
//   The bytes are cut into chunks of 1 MiB (the last may be shorter). Each chunk is read as 64-bit
//   little-endian words (a last partial word is zero-padded, then the chunk's byte count is one more
//   word), and hashed as  c = 0xcbf29ce484222325 (FNV offset);  c = (c ^ word) * 0x100000001b3 (FNV
//   prime) for each word.  The chunk hashes combine the same way, starting from FNV offset ^ n:
//   h = (h ^ c_k) * prime in chunk order; the result is passed through the splitmix64 finalizer.
// Every step is a bijection of the running value, so changing any single word (e.g. one pixel)
// always changes the hash. Chunks are hashed in parallel; their boundaries do not depend on the
// thread count, so neither does the result.
std::uint64_t hash_bytes(const void* data, std::size_t n);

// hash_bytes as 16 lower-case hex digits.
std::string hash_hex(std::uint64_t h);

// Content hash of a Dataset as 16 hex digits. It covers, in order: the version tag
// "gradscope-dataset-hash-v1"; the header N, C, H, W, num_classes, has-coarse-labels (six u64
// little-endian); the images' dtype name ("u8", or "f32" for Gaussian images); the images'
// elements in contiguous NCHW order, each little-endian; the labels (i64 little-endian); the coarse
// labels when defined. Names (dataset and class names) are not part of it: renaming does not
// change the data. Each part is hashed with hash_bytes and the part hashes combine as the chunk
// hashes do in hash_bytes, with the number of parts in place of n.
std::string dataset_hash(const Dataset& d);

// Hash of both splits: the two dataset hashes combined the same way (train first, 2 parts).
std::string splits_hash(const Splits& s);

}  // namespace gs::data
