#pragma once
// Random fills driven by a Generator. Element i of a fill of n elements uses the Philox block at
// counter (generator.offset + i), and the fill then advances offset by n, so a result depends only
// on (seed, stream, offset) and never on threads or devices. A generator's whole state is its
// three integers, which is what a checkpoint saves.
#include <cstdint>

#include "tensor/tensor.h"

namespace gs {

struct Generator {
    std::uint64_t seed = 0;
    std::uint64_t stream = 0;  // independent sequences for one seed (data order, dropout, init, ...)
    std::uint64_t offset = 0;  // Philox blocks consumed so far

    Generator() = default;
    explicit Generator(std::uint64_t seed, std::uint64_t stream = 0) : seed(seed), stream(stream) {}
    bool operator==(const Generator&) const = default;
};

// Each fill is drawn on `device` (CPU by default); a CUDA device draws the same numbers as the CPU
// (bit for bit, except normal, which agrees to a few ulp: see tensor/random_draw.h).
// Uniform in [low, high). dtype f32 or f64.
Tensor uniform(const Shape& shape, Generator& gen, double low = 0.0, double high = 1.0, DType dtype = DType::f32,
               Device device = Device::cpu());
// Normal with the given mean and standard deviation (Box-Muller). dtype f32 or f64.
Tensor normal(const Shape& shape, Generator& gen, double mean = 0.0, double std = 1.0, DType dtype = DType::f32,
              Device device = Device::cpu());
// 1 with probability p, else 0. Any dtype.
Tensor bernoulli(const Shape& shape, Generator& gen, double p, DType dtype = DType::f32, Device device = Device::cpu());
// Integers uniform in [low, high). dtype i64 (or u8 when the range fits).
Tensor randint(const Shape& shape, Generator& gen, std::int64_t low, std::int64_t high, DType dtype = DType::i64,
               Device device = Device::cpu());
// A uniformly random permutation of 0..n-1 (i64), on the CPU (the shuffle is sequential; move
// the result with .to(device)).
Tensor randperm(std::int64_t n, Generator& gen);

// Fills an existing contiguous tensor (on any device) in place with the same numbers as the functions above.
void uniform_(Tensor& t, Generator& gen, double low = 0.0, double high = 1.0);
void normal_(Tensor& t, Generator& gen, double mean = 0.0, double std = 1.0);

}  // namespace gs
