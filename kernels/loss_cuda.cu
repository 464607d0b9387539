// Losses on CUDA: one thread per example, row sums in double in index order, exactly the CPU's
// traversal; the functors of loss.h (and softmax.h for the fused log-softmax) do the math. Labels
// and ±1 targets were validated by the entry points.
#include "kernels/loss.h"
#include "kernels/softmax.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

#define GS_FOR_EACH_EXAMPLE(n, N)                                                      \
    for (std::int64_t n = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; n < (N); \
         n += std::int64_t(blockDim.x) * gridDim.x)

template <class T>
__global__ void cross_entropy_kernel(const T* x, const std::int64_t* labels, T* lp, T* loss, std::int64_t N,
                                     std::int64_t C) {
    GS_FOR_EACH_EXAMPLE(n, N) {
        loss[n] = cross_entropy_row(x + n * C, labels[n], C, lp + n * C);
    }
}

template <class T>
__global__ void cross_entropy_backward_kernel(const T* dloss, const T* lp, const std::int64_t* labels, T* dx,
                                              std::int64_t N, std::int64_t C) {
    GS_FOR_EACH_EXAMPLE(n, N) cross_entropy_backward_row(lp + n * C, labels[n], C, dloss[n], dx + n * C);
}

template <class T>
__global__ void multiclass_hinge_kernel(const T* x, const std::int64_t* labels, double margin, T* loss,
                                        std::int64_t N, std::int64_t C) {
    GS_FOR_EACH_EXAMPLE(n, N) loss[n] = multiclass_hinge_row(x + n * C, labels[n], C, margin);
}

template <class T>
__global__ void multiclass_hinge_backward_kernel(const T* dloss, const T* x, const std::int64_t* labels,
                                                 double margin, T* dx, std::int64_t N, std::int64_t C) {
    GS_FOR_EACH_EXAMPLE(n, N) multiclass_hinge_backward_row(x + n * C, labels[n], C, margin, dloss[n], dx + n * C);
}

template <class T>
__global__ void binary_hinge_kernel(const T* x, const T* t, T* loss, std::int64_t N) {
    GS_FOR_EACH_EXAMPLE(n, N) loss[n] = HingeClamp{}(BinaryHingeViolation{}(x[n], t[n]));
}

template <class T>
__global__ void binary_hinge_backward_kernel(const T* dloss, const T* x, const T* t, T* dx, std::int64_t N) {
    GS_FOR_EACH_EXAMPLE(n, N) dx[n] = BinaryHingeBackward{}(x[n], t[n], dloss[n]);
}

template <class T>
__global__ void mse_kernel(const T* x, const T* t, T* loss, std::int64_t N, std::int64_t D) {
    GS_FOR_EACH_EXAMPLE(n, N) {
        const SquaredError sq;
        double sum = 0;
        for (std::int64_t i = n * D; i < (n + 1) * D; ++i) sum += double(sq(x[i], t[i]));
        // D == 0 gives 0/0 = NaN, the mean of nothing, as on the CPU.
        loss[n] = T(sum / double(D));
    }
}

template <class T>
__global__ void mse_backward_kernel(const T* dloss, const T* x, const T* t, T* dx, T* dt, std::int64_t N,
                                    std::int64_t D) {
    GS_FOR_EACH_EXAMPLE(n, N) {
        const SquaredErrorBackward grad;
        const T scale = T(2) * dloss[n] / T(D);
        for (std::int64_t i = n * D; i < (n + 1) * D; ++i) {
            if (dx) dx[i] = grad(x[i], t[i], scale);
            if (dt) dt[i] = grad(t[i], x[i], scale);
        }
    }
}

#undef GS_FOR_EACH_EXAMPLE

// Launches one thread per example of `like` (N = like.size(0)) on like's device.
template <class Launch>
void per_example(const Tensor& like, Launch&& launch) {
    const std::int64_t N = like.size(0);
    if (N == 0) return;
    const int device = like.device().index;
    CudaDeviceGuard guard(device);
    launch(grid_size(N), cuda_stream(device));
    GS_CUDA_CHECK(cudaGetLastError());
}

std::int64_t row_len(const Tensor& x) { return x.size(0) == 0 ? 0 : x.numel() / x.size(0); }

}  // namespace

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& log_probs) {
    visit_float(logits.dtype(), "softmax_cross_entropy", [&](auto tag) {
        using T = decltype(tag);
        per_example(logits, [&](unsigned grid, cudaStream_t s) {
            cross_entropy_kernel<<<grid, kBlockSize, 0, s>>>(logits.data<T>(), labels.data<std::int64_t>(),
                                                             log_probs.data<T>(), loss.data<T>(), logits.size(0),
                                                             logits.size(1));
        });
    });
}

void softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& log_probs, const Tensor& labels,
                                    Tensor& dlogits) {
    visit_float(log_probs.dtype(), "softmax_cross_entropy_backward", [&](auto tag) {
        using T = decltype(tag);
        per_example(log_probs, [&](unsigned grid, cudaStream_t s) {
            cross_entropy_backward_kernel<<<grid, kBlockSize, 0, s>>>(dloss.data<T>(), log_probs.data<T>(),
                                                                      labels.data<std::int64_t>(), dlogits.data<T>(),
                                                                      log_probs.size(0), log_probs.size(1));
        });
    });
}

void multiclass_hinge(const Tensor& logits, const Tensor& labels, double margin, Tensor& loss) {
    visit_float(logits.dtype(), "multiclass_hinge", [&](auto tag) {
        using T = decltype(tag);
        per_example(logits, [&](unsigned grid, cudaStream_t s) {
            multiclass_hinge_kernel<<<grid, kBlockSize, 0, s>>>(logits.data<T>(), labels.data<std::int64_t>(), margin,
                                                                loss.data<T>(), logits.size(0), logits.size(1));
        });
    });
}

void multiclass_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& labels, double margin,
                               Tensor& dlogits) {
    visit_float(logits.dtype(), "multiclass_hinge_backward", [&](auto tag) {
        using T = decltype(tag);
        per_example(logits, [&](unsigned grid, cudaStream_t s) {
            multiclass_hinge_backward_kernel<<<grid, kBlockSize, 0, s>>>(
                dloss.data<T>(), logits.data<T>(), labels.data<std::int64_t>(), margin, dlogits.data<T>(),
                logits.size(0), logits.size(1));
        });
    });
}

void binary_hinge(const Tensor& logits, const Tensor& targets, Tensor& loss) {
    visit_float(logits.dtype(), "binary_hinge", [&](auto tag) {
        using T = decltype(tag);
        per_example(logits, [&](unsigned grid, cudaStream_t s) {
            binary_hinge_kernel<<<grid, kBlockSize, 0, s>>>(logits.data<T>(), targets.data<T>(), loss.data<T>(),
                                                            logits.size(0));
        });
    });
}

void binary_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets, Tensor& dlogits) {
    visit_float(logits.dtype(), "binary_hinge_backward", [&](auto tag) {
        using T = decltype(tag);
        per_example(logits, [&](unsigned grid, cudaStream_t s) {
            binary_hinge_backward_kernel<<<grid, kBlockSize, 0, s>>>(dloss.data<T>(), logits.data<T>(),
                                                                     targets.data<T>(), dlogits.data<T>(),
                                                                     logits.size(0));
        });
    });
}

void mse(const Tensor& input, const Tensor& target, Tensor& loss) {
    visit_float(input.dtype(), "mse", [&](auto tag) {
        using T = decltype(tag);
        per_example(input, [&](unsigned grid, cudaStream_t s) {
            mse_kernel<<<grid, kBlockSize, 0, s>>>(input.data<T>(), target.data<T>(), loss.data<T>(), input.size(0),
                                                   row_len(input));
        });
    });
}

void mse_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, Tensor& dinput, Tensor& dtarget) {
    visit_float(input.dtype(), "mse_backward", [&](auto tag) {
        using T = decltype(tag);
        per_example(input, [&](unsigned grid, cudaStream_t s) {
            mse_backward_kernel<<<grid, kBlockSize, 0, s>>>(
                dloss.data<T>(), input.data<T>(), target.data<T>(), dinput.defined() ? dinput.data<T>() : nullptr,
                dtarget.defined() ? dtarget.data<T>() : nullptr, input.size(0), row_len(input));
        });
    });
}

}  // namespace gs::kernels::cuda
