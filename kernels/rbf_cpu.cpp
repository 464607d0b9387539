// Pairwise squared distances and the RBF kernel on the CPU: out = x y^T by GEMM (written straight
// into the output, so an (N, M) kernel matrix needs no second N x M buffer), then one pass that
// turns each dot product into a distance (and a kernel value) with the functors of rbf.h.
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/rbf.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// Squared norms of the rows of a (R, D), each summed over d in increasing order.
template <class T>
std::vector<T> row_sq_norms(const T* a, i64 R, i64 D) {
    std::vector<T> n(std::size_t(R), T(0));
#pragma omp parallel for if (R * D >= kParallelGrain) schedule(static)
    for (i64 r = 0; r < R; ++r) {
        T s = 0;
        for (i64 d = 0; d < D; ++d) s += a[r * D + d] * a[r * D + d];
        n[std::size_t(r)] = s;
    }
    return n;
}

}  // namespace

void rbf_kernel(const Tensor& x_, const Tensor& y_, bool same, double gamma, Tensor& out_) {
    visit_float(x_.dtype(), "rbf_kernel", [&](auto tag) {
        using T = decltype(tag);
        const i64 N = x_.size(0), M = y_.size(0), D = x_.size(1);
        if (N == 0 || M == 0) return;
        const T* x = x_.data<T>();
        const T* y = y_.data<T>();
        T* out = out_.data<T>();
        // out = x y^T: (N, D) x (D, M).
        gemm<T>(false, true, N, M, D, T(1), x, std::max<i64>(D, 1), y, std::max<i64>(D, 1), T(0), out, M);
        const std::vector<T> nx = row_sq_norms(x, N, D);
        const std::vector<T> ny = same ? nx : row_sq_norms(y, M, D);
        const SqDistFromGram sq_dist;
        const RbfFromSqDist rbf{gamma};
        const bool kernel = gamma >= 0.0;
#pragma omp parallel for if (N * M >= kParallelGrain) schedule(static)
        for (i64 i = 0; i < N; ++i) {
            T* row = out + i * M;
            // With y == x only the lower triangle is computed; the upper one is mirrored below.
            const i64 end = same ? i : M;
            for (i64 j = 0; j < end; ++j) {
                const T d = sq_dist(nx[std::size_t(i)], ny[std::size_t(j)], row[j]);
                row[j] = kernel ? rbf(d) : d;
            }
            if (same) row[i] = kernel ? rbf(T(0)) : T(0);
        }
        if (same) {
#pragma omp parallel for if (N * M >= kParallelGrain) schedule(static)
            for (i64 i = 0; i < N; ++i)
                for (i64 j = i + 1; j < M; ++j) out[i * M + j] = out[j * M + i];
        }
    });
}

}  // namespace gs::kernels::cpu
