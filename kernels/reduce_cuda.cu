// CUDA loops for kernels/reduce.h over the [A, R, B] layout; the reducer functors of reduce.h hold
// the math. Deterministic: the traversal depends only on the shape, never on timing (no atomics).
//   B == 1 and R >= 64 (long contiguous runs): one block per output; thread t steps through
//     r = t, t + 256, ... and the block combines the 256 partial results in a fixed tree order.
//   Otherwise: one thread per output, stepping r = 0..R-1 in order (for B > 1 neighbouring
//     threads read neighbouring b, so the reads are coalesced).
//   argmax/argmin: one thread per output in index order, exactly the CPU's scan, so ties and NaN
//     pick the same index.
#include "kernels/reduce.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

constexpr int kReduceThreads = 256;  // a power of two: the tree halves it

// Makers build output o's reducer on the device (from per-output state where a reducer has some).
struct MakeSum {
    __device__ SumReducer operator()(std::int64_t) const { return {}; }
};
struct MakeMean {
    __device__ MeanReducer operator()(std::int64_t) const { return {}; }
};
struct MakeSquaredDeviation {
    const double* mean;
    double correction;
    __device__ SquaredDeviationReducer operator()(std::int64_t o) const { return {mean[o], correction}; }
};
// Extreme reducers start from the output's first element (r = 0).
template <class T, class Better>
struct MakeExtreme {
    const T* src;
    std::int64_t R, B;
    __device__ ExtremeReducer<T, Better> operator()(std::int64_t o) const { return {src[(o / B) * R * B + o % B]}; }
};

// B == 1: block per output. Out = T, or double for the mean pass of var.
template <class T, class Out, class Make>
__global__ void reduce_rows_kernel(const T* src, std::int64_t A, std::int64_t R, Out* out, Make make) {
    using Red = decltype(make(std::int64_t(0)));
    using Acc = decltype(make(std::int64_t(0)).init());
    __shared__ Acc part[kReduceThreads];
    const int t = int(threadIdx.x);
    for (std::int64_t a = blockIdx.x; a < A; a += gridDim.x) {
        const Red red = make(a);
        const T* p = src + a * R;
        Acc acc = red.init();
        for (std::int64_t r = t; r < R; r += kReduceThreads) acc = red.step(acc, p[r]);
        part[t] = acc;
        __syncthreads();
        for (int s = kReduceThreads / 2; s > 0; s /= 2) {
            if (t < s) part[t] = red.combine(part[t], part[t + s]);
            __syncthreads();
        }
        if (t == 0) out[a] = red.template done<Out>(part[0], R);
        __syncthreads();  // part is reused by the next output
    }
}

// B > 1: thread per output.
template <class T, class Out, class Make>
__global__ void reduce_cols_kernel(const T* src, std::int64_t A, std::int64_t R, std::int64_t B, Out* out, Make make) {
    const std::int64_t n = A * B;
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t o = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += step) {
        const auto red = make(o);
        const T* p = src + (o / B) * R * B + o % B;
        auto acc = red.init();
        for (std::int64_t r = 0; r < R; ++r) acc = red.step(acc, p[r * B]);
        out[o] = red.template done<Out>(acc, R);
    }
}

template <class T, class Better>
__global__ void arg_kernel(const T* src, std::int64_t A, std::int64_t R, std::int64_t B, std::int64_t* out) {
    const Better better{};
    const std::int64_t n = A * B;
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t o = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += step) {
        const T* p = src + (o / B) * R * B + o % B;
        T best = p[0];
        std::int64_t idx = 0;
        for (std::int64_t r = 1; r < R; ++r)
            if (better(p[r * B], best)) best = p[r * B], idx = r;
        out[o] = idx;
    }
}

template <class T, class Out, class Make>
void run(const T* src, std::int64_t A, std::int64_t R, std::int64_t B, Out* out, Make make, int device) {
    cudaStream_t stream = cuda_stream(device);
    // Short runs would leave most of a 256-thread block idle: a thread per output does better.
    if (B == 1 && R >= 64) {
        const unsigned blocks = unsigned(std::min<std::int64_t>(A, kMaxBlocks));
        reduce_rows_kernel<T, Out><<<blocks, kReduceThreads, 0, stream>>>(src, A, R, out, make);
    } else {
        reduce_cols_kernel<T, Out><<<grid_size(A * B), kBlockSize, 0, stream>>>(src, A, R, B, out, make);
    }
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void reduce(ReduceOp op, const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out) {
    const int device = out.device().index;
    CudaDeviceGuard guard(device);
    switch (op) {
        case ReduceOp::sum:
            visit_float(src.dtype(), "sum", [&](auto tag) {
                using T = decltype(tag);
                run(src.data<T>(), A, R, B, out.data<T>(), MakeSum{}, device);
            });
            return;
        case ReduceOp::mean:
            visit_float(src.dtype(), "mean", [&](auto tag) {
                using T = decltype(tag);
                run(src.data<T>(), A, R, B, out.data<T>(), MakeMean{}, device);
            });
            return;
        case ReduceOp::max:
        case ReduceOp::min:
            visit_dtype(src.dtype(), [&](auto tag) {
                using T = decltype(tag);
                const T* p = src.data<T>();
                if (op == ReduceOp::max) run(p, A, R, B, out.data<T>(), MakeExtreme<T, GreaterOrNan>{p, R, B}, device);
                else run(p, A, R, B, out.data<T>(), MakeExtreme<T, LessOrNan>{p, R, B}, device);
            });
            return;
    }
}

void var(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, double correction, Tensor& out) {
    const int device = out.device().index;
    CudaDeviceGuard guard(device);
    visit_float(src.dtype(), "var", [&](auto tag) {
        using T = decltype(tag);
        // Pass 1: every output's mean, kept in double on the device.
        Tensor mean = Tensor::empty({A * B}, DType::f64, out.device());
        run(src.data<T>(), A, R, B, mean.data<double>(), MakeMean{}, device);
        // Pass 2: squared deviations from that mean (no E[x^2] - E[x]^2 cancellation).
        run(src.data<T>(), A, R, B, out.data<T>(), MakeSquaredDeviation{mean.data<double>(), correction}, device);
    });
}

void argmax(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out) {
    const int device = out.device().index;
    CudaDeviceGuard guard(device);
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        arg_kernel<T, GreaterOrNan><<<grid_size(A * B), kBlockSize, 0, cuda_stream(device)>>>(src.data<T>(), A, R, B,
                                                                                              out.data<std::int64_t>());
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

void argmin(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out) {
    const int device = out.device().index;
    CudaDeviceGuard guard(device);
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        arg_kernel<T, LessOrNan><<<grid_size(A * B), kBlockSize, 0, cuda_stream(device)>>>(src.data<T>(), A, R, B,
                                                                                           out.data<std::int64_t>());
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

}  // namespace gs::kernels::cuda
