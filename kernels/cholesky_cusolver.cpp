// The GPU Cholesky factorization (cuSOLVER potrf) and triangular solves (cuBLAS trsm).
//
// Row-major vs column-major: a row-major (N, N) array read as column-major is its transpose. The
// row-major lower triangle we factor is therefore cuSOLVER's upper triangle, and potrf with
// CUBLAS_FILL_MODE_UPPER computes U with A = U^T U there, whose storage read row-major is exactly
// L = U^T (A = L L^T) in the lower triangle. Likewise L x = b with x (N, M) row-major is
// x^T L^T = b^T in column-major terms: trsm from the right with the column-major upper factor,
// transposed for L^T x = b.
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cholesky.h"
#include "kernels/cuda_settings.h"
#include "kernels/elementwise.h"
#include "kernels/library_handles_cuda.h"
#include "tensor/cuda_context.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;

// cusolverDnParams_t for one call, destroyed with it.
struct Params {
    cusolverDnParams_t p = nullptr;
    Params() { GS_CUSOLVER_CHECK(cusolverDnCreateParams(&p)); }
    ~Params() { cusolverDnDestroyParams(p); }
    Params(const Params&) = delete;
    Params& operator=(const Params&) = delete;
};

}  // namespace

void cholesky_inplace(Tensor& a, double lambda) {
    const i64 n = a.size(0);
    if (n == 0) return;
    if (lambda != 0.0) {
        // The diagonal as a strided view (stride N + 1) of the flattened matrix.
        Tensor diag = a.view({n * n}).slice(0, 0, n * n, n + 1);
        diag.copy_(kernels::affine(diag, 1.0, lambda));
    }
    const int device = a.device().index;
    CudaDeviceGuard guard(device);
    cusolverDnHandle_t h = cusolver_handle(device);
    const cudaDataType type = a.dtype() == DType::f64 ? CUDA_R_64F : CUDA_R_32F;
    Params params;
    std::size_t device_bytes = 0, host_bytes = 0;
    GS_CUSOLVER_CHECK(cusolverDnXpotrf_bufferSize(h, params.p, CUBLAS_FILL_MODE_UPPER, n, type, a.raw_data(), n, type,
                                                  &device_bytes, &host_bytes));
    // Workspace and the info word from the caching allocator.
    Tensor work = Tensor::empty({i64(device_bytes) + 1}, DType::u8, a.device());
    Tensor info = Tensor::zeros({i64(sizeof(int))}, DType::u8, a.device());  // one int
    std::vector<unsigned char> host_work(host_bytes + 1);
    GS_CUSOLVER_CHECK(cusolverDnXpotrf(h, params.p, CUBLAS_FILL_MODE_UPPER, n, type, a.raw_data(), n, type,
                                       work.raw_data(), device_bytes, host_work.data(), host_bytes,
                                       static_cast<int*>(info.raw_data())));
    // info > 0: the leading minor of that order is not positive definite (a host sync, once per
    // factorization, as the CPU's pivot check).
    int bad = 0;
    std::memcpy(&bad, info.to(Device::cpu()).raw_data(), sizeof bad);
    GS_CHECK(bad >= 0, "cholesky: cuSOLVER rejected argument ", -bad, " of potrf (internal error)");
    GS_CHECK(bad == 0, "cholesky: the matrix is not positive definite: pivot ", bad - 1, " is not > 0 (on ",
             a.device().str(), "; cuSOLVER reports the row, not the value)");
    // potrf does not flag NaN: a NaN input leaves info 0 and NaN in the factor. A NaN in the lower
    // triangle reaches the diagonal at its row and every row after, so the first NaN on the
    // diagonal is the row the CPU's pivot check names.
    const std::vector<double> diag = a.view({n * n}).slice(0, 0, n * n, n + 1).to(Device::cpu()).to_vector<double>();
    for (i64 j = 0; j < n; ++j)
        GS_CHECK(!std::isnan(diag[std::size_t(j)]), "cholesky: the matrix is not positive definite: pivot ", j,
                 " is nan (on ", a.device().str(), ")");
    zero_strict_upper(a);
}

void triangular_solve_inplace(const Tensor& l, bool transpose, Tensor& x) {
    const i64 n = l.size(0), m = x.size(1);
    if (n == 0 || m == 0) return;
    const int device = l.device().index;
    CudaDeviceGuard guard(device);
    cublasHandle_t h = cublas_handle(device);
    // As every cuBLAS call here: TF32 only when asked (f64 never uses it).
    GS_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    const cublasOperation_t op = transpose ? CUBLAS_OP_T : CUBLAS_OP_N;
    visit_float(l.dtype(), "triangular_solve", [&](auto tag) {
        using T = decltype(tag);
        const T one = T(1);
        if constexpr (std::is_same_v<T, float>)
            GS_CUBLAS_CHECK(cublasStrsm_64(h, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, op, CUBLAS_DIAG_NON_UNIT, m, n,
                                           &one, l.data<T>(), n, x.data<T>(), m));
        else
            GS_CUBLAS_CHECK(cublasDtrsm_64(h, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, op, CUBLAS_DIAG_NON_UNIT, m, n,
                                           &one, l.data<T>(), n, x.data<T>(), m));
    });
}

}  // namespace gs::kernels::cuda
