// ReLU forward and backward with cudnnActivationForward/Backward (see relu_cudnn.h).
#include "kernels/relu_cudnn.h"

#include "kernels/cudnn_raii.h"
#include "tensor/cuda_context.h"

namespace gs::kernels::cuda {
namespace {

// Elements per cuDNN call: a flat (1, 1, 1, n) descriptor needs n to fit an int; 2^30 keeps each
// chunk's byte offsets aligned and well inside the limit.
constexpr std::int64_t kChunk = std::int64_t(1) << 30;

template <class T>
void forward(const Tensor& x, Tensor& y) {
    const char* op = "relu";
    const int dev = x.device().index;
    CudaDeviceGuard guard(dev);
    const cudnnHandle_t h = cudnn_handle(dev);
    const cudnnDataType_t type = cudnn_dtype(x.dtype(), op);
    const ActivationDesc relu(CUDNN_ACTIVATION_RELU);
    const Scaling<T> k;
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for (const auto& [b, e] : cudnn_desc::chunks(x.numel(), kChunk)) {
        const TensorDesc d(type, cudnn_desc::flat_view(e - b, op));
        GS_CUDNN_CHECK(cudnnActivationForward(h, relu.get(), &k.one, d.get(), xp + b, &k.zero, d.get(), yp + b));
    }
}

template <class T>
void backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
    const char* op = "relu_backward";
    const int dev = y.device().index;
    CudaDeviceGuard guard(dev);
    const cudnnHandle_t h = cudnn_handle(dev);
    const cudnnDataType_t type = cudnn_dtype(y.dtype(), op);
    const ActivationDesc relu(CUDNN_ACTIVATION_RELU);
    const Scaling<T> k;
    const T* yp = y.data<T>();
    const T* dyp = dy.data<T>();
    T* dxp = dx.data<T>();
    for (const auto& [b, e] : cudnn_desc::chunks(y.numel(), kChunk)) {
        const TensorDesc d(type, cudnn_desc::flat_view(e - b, op));
        // cuDNN asks for the forward input x as well as y; the input is not kept (ReLU saves its
        // output), and y serves: y > 0 exactly where x > 0, so either gate gives the same dx.
        GS_CUDNN_CHECK(cudnnActivationBackward(h, relu.get(), &k.one, d.get(), yp + b, d.get(), dyp + b, d.get(),
                                               yp + b, &k.zero, d.get(), dxp + b));
    }
}

}  // namespace

void relu_forward(const Tensor& x, Tensor& y) {
    visit_float(x.dtype(), "relu", [&](auto tag) { forward<decltype(tag)>(x, y); });
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
    visit_float(y.dtype(), "relu_backward", [&](auto tag) { backward<decltype(tag)>(y, dy, dx); });
}

}  // namespace gs::kernels::cuda
