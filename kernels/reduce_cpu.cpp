// CPU loops for kernels/reduce.h over the [A, R, B] layout. The reducer functors hold the math;
// these loops only fix the traversal order (one thread per output, or fixed blocks combined in
// order), which is what makes the results independent of the thread count.
#include <algorithm>
#include <vector>

#include "kernels/reduce.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {

namespace {

// Outputs handled together when the reduced axis is not the innermost (B > 1): a tile of this
// many consecutive outputs is swept row by row, so reads stay contiguous.
constexpr std::int64_t kTile = 64;
// Elements per block when a few outputs each reduce a long contiguous run; fixed, so the blocking
// (and therefore the rounding) does not depend on the number of threads.
constexpr std::int64_t kBlock = 16384;

// Splits the A x B outputs of a B > 1 reduction into tasks of up to kTile consecutive b's and calls
// f(a, b0, len) once per task, one task per OpenMP iteration. reduce_loop and arg_loop share it so
// both assign each output to exactly one thread by the same fixed tiling.
template <class F>
void for_each_tile(std::int64_t A, std::int64_t B, bool parallel, F&& f) {
    const std::int64_t tiles = (B + kTile - 1) / kTile;
#pragma omp parallel for if (parallel) schedule(static)
    for (std::int64_t task = 0; task < A * tiles; ++task) {
        const std::int64_t a = task / tiles;
        const std::int64_t b0 = (task % tiles) * kTile;
        f(a, b0, std::min(kTile, B - b0));
    }
}

// make(o) returns the reducer of output o (o = a*B + b); store(o, acc) writes its result.
template <class T, class Make, class Store>
void reduce_loop(const T* src, std::int64_t A, std::int64_t R, std::int64_t B, Make make, Store store) {
    using Red = decltype(make(std::int64_t(0)));
    using Acc = decltype(make(std::int64_t(0)).init());
    const bool parallel = A * R * B >= kParallelGrain;
    if (B == 1) {
        const std::int64_t blocks = (R + kBlock - 1) / kBlock;
        if (A < 4 && blocks >= 4) {
            // Few long runs: split each run into fixed blocks, reduce them in parallel, combine in order.
            std::vector<Acc> part(static_cast<std::size_t>(blocks));
            for (std::int64_t a = 0; a < A; ++a) {
                const Red red = make(a);
                const T* p = src + a * R;
#pragma omp parallel for schedule(static)
                for (std::int64_t k = 0; k < blocks; ++k) {
                    Acc acc = red.init();
                    const std::int64_t end = std::min(R, (k + 1) * kBlock);
                    for (std::int64_t r = k * kBlock; r < end; ++r) acc = red.step(acc, p[r]);
                    part[std::size_t(k)] = acc;
                }
                Acc acc = part[0];
                for (std::int64_t k = 1; k < blocks; ++k) acc = red.combine(acc, part[std::size_t(k)]);
                store(a, acc);
            }
            return;
        }
#pragma omp parallel for if (parallel) schedule(static)
        for (std::int64_t a = 0; a < A; ++a) {
            const Red red = make(a);
            const T* p = src + a * R;
            Acc acc = red.init();
            for (std::int64_t r = 0; r < R; ++r) acc = red.step(acc, p[r]);
            store(a, acc);
        }
        return;
    }
    for_each_tile(A, B, parallel, [&](std::int64_t a, std::int64_t b0, std::int64_t len) {
        std::vector<Red> reds;
        reds.reserve(std::size_t(len));
        std::vector<Acc> acc(static_cast<std::size_t>(len));
        for (std::int64_t j = 0; j < len; ++j) {
            reds.push_back(make(a * B + b0 + j));
            acc[std::size_t(j)] = reds.back().init();
        }
        for (std::int64_t r = 0; r < R; ++r) {
            const T* row = src + (a * R + r) * B + b0;
            for (std::int64_t j = 0; j < len; ++j) acc[std::size_t(j)] = reds[std::size_t(j)].step(acc[std::size_t(j)], row[j]);
        }
        for (std::int64_t j = 0; j < len; ++j) store(a * B + b0 + j, acc[std::size_t(j)]);
    });
}

// Offset of output o's first element (r = 0) in the [A, R, B] layout.
inline std::int64_t first_offset(std::int64_t o, std::int64_t R, std::int64_t B) {
    return (o / B) * R * B + o % B;
}

template <class T, class Better>
void arg_loop(const T* src, std::int64_t A, std::int64_t R, std::int64_t B, std::int64_t* out) {
    const Better better{};
    const bool parallel = A * R * B >= kParallelGrain;
    if (B == 1) {
#pragma omp parallel for if (parallel) schedule(static)
        for (std::int64_t a = 0; a < A; ++a) {
            const T* p = src + a * R;
            T best = p[0];
            std::int64_t idx = 0;
            for (std::int64_t r = 1; r < R; ++r)
                if (better(p[r], best)) best = p[r], idx = r;
            out[a] = idx;
        }
        return;
    }
    for_each_tile(A, B, parallel, [&](std::int64_t a, std::int64_t b0, std::int64_t len) {
        T best[kTile];
        std::int64_t idx[kTile];
        const T* row0 = src + a * R * B + b0;
        for (std::int64_t j = 0; j < len; ++j) best[j] = row0[j], idx[j] = 0;
        for (std::int64_t r = 1; r < R; ++r) {
            const T* row = row0 + r * B;
            for (std::int64_t j = 0; j < len; ++j)
                if (better(row[j], best[j])) best[j] = row[j], idx[j] = r;
        }
        for (std::int64_t j = 0; j < len; ++j) out[a * B + b0 + j] = idx[j];
    });
}

}  // namespace

void reduce(ReduceOp op, const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out) {
    auto run = [&](auto tag, auto make) {
        using T = decltype(tag);
        T* dst = out.data<T>();
        reduce_loop<T>(src.data<T>(), A, R, B, make, [&](std::int64_t o, auto acc) {
            dst[o] = make(o).template done<T>(acc, R);
        });
    };
    switch (op) {
        case ReduceOp::sum:
            visit_float(src.dtype(), "sum", [&](auto tag) { run(tag, [](std::int64_t) { return SumReducer{}; }); });
            return;
        case ReduceOp::mean:
            visit_float(src.dtype(), "mean", [&](auto tag) { run(tag, [](std::int64_t) { return MeanReducer{}; }); });
            return;
        case ReduceOp::max:
        case ReduceOp::min:
            visit_dtype(src.dtype(), [&](auto tag) {
                using T = decltype(tag);
                const T* p = src.data<T>();
                if (op == ReduceOp::max)
                    run(tag, [&](std::int64_t o) { return ExtremeReducer<T, GreaterOrNan>{p[first_offset(o, R, B)]}; });
                else
                    run(tag, [&](std::int64_t o) { return ExtremeReducer<T, LessOrNan>{p[first_offset(o, R, B)]}; });
            });
            return;
    }
}

void var(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, double correction, Tensor& out) {
    visit_float(src.dtype(), "var", [&](auto tag) {
        using T = decltype(tag);
        const T* p = src.data<T>();
        // Pass 1: the mean of every output, kept in double.
        std::vector<double> mean(std::size_t(A * B));
        reduce_loop<T>(p, A, R, B, [](std::int64_t) { return MeanReducer{}; },
                       [&](std::int64_t o, double acc) { mean[std::size_t(o)] = MeanReducer{}.done<double>(acc, R); });
        // Pass 2: squared deviations from that mean (stable: no E[x^2] - E[x]^2 cancellation).
        T* dst = out.data<T>();
        auto make = [&](std::int64_t o) { return SquaredDeviationReducer{mean[std::size_t(o)], correction}; };
        reduce_loop<T>(p, A, R, B, make,
                       [&](std::int64_t o, double acc) { dst[o] = make(o).template done<T>(acc, R); });
    });
}

void argmax(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out) {
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        arg_loop<T, GreaterOrNan>(src.data<T>(), A, R, B, out.data<std::int64_t>());
    });
}

void argmin(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out) {
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        arg_loop<T, LessOrNan>(src.data<T>(), A, R, B, out.data<std::int64_t>());
    });
}

}  // namespace gs::kernels::cpu
