#pragma once
// Owning wrappers of cuDNN descriptors, filled from the plain numbers of cudnn_descriptors.h, and
// the dtype mapping. Included only by the *_cudnn.cpp files (CUDA build).
#include <cudnn.h>

#include "kernels/cudnn_descriptors.h"
#include "kernels/library_handles_cuda.h"
#include "tensor/dtype.h"

namespace gs::kernels::cuda {

// CUDNN_DATA_FLOAT / CUDNN_DATA_DOUBLE; throws naming `op` for other dtypes.
inline cudnnDataType_t cudnn_dtype(DType dtype, const char* op) {
    if (dtype == DType::f32) return CUDNN_DATA_FLOAT;
    if (dtype == DType::f64) return CUDNN_DATA_DOUBLE;
    GS_FAIL(op, ": cuDNN path supports f32 and f64, got ", dtype_name(dtype));
}

// cuDNN's scaling factors (alpha, beta) are double for double data and float otherwise.
template <class T>
struct Scaling {
    T one = T(1), zero = T(0);
};

// A descriptor that is created in the constructor and destroyed in the destructor. Destruction
// cannot fail for a valid descriptor, and a destructor must not throw, so its status is dropped.
template <class D, cudnnStatus_t (*Create)(D*), cudnnStatus_t (*Destroy)(D)>
class Descriptor {
public:
    Descriptor() { GS_CUDNN_CHECK(Create(&d_)); }
    ~Descriptor() { (void)Destroy(d_); }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    D get() const { return d_; }

private:
    D d_ = nullptr;
};

class TensorDesc : public Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor> {
public:
    TensorDesc(cudnnDataType_t type, const cudnn_desc::Dims4& d) {
        GS_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(get(), type, d.dims[0], d.dims[1], d.dims[2], d.dims[3],
                                                    d.strides[0], d.strides[1], d.strides[2], d.strides[3]));
    }
};

class FilterDesc : public Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor> {
public:
    // A packed (K, C/groups, R, S) filter.
    FilterDesc(cudnnDataType_t type, const cudnn_desc::Dims4& d) {
        GS_CUDNN_CHECK(cudnnSetFilter4dDescriptor(get(), type, CUDNN_TENSOR_NCHW, d.dims[0], d.dims[1], d.dims[2], d.dims[3]));
    }
};

class ConvDesc
    : public Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor, cudnnDestroyConvolutionDescriptor> {
public:
    // Cross-correlation (what every framework calls convolution), computed in the data type.
    ConvDesc(cudnnDataType_t type, const cudnn_desc::ConvParams& p) {
        GS_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(get(), p.pad_h, p.pad_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w,
                                                       CUDNN_CROSS_CORRELATION, type));
        GS_CUDNN_CHECK(cudnnSetConvolutionGroupCount(get(), p.groups));
    }
};

class ActivationDesc
    : public Descriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor, cudnnDestroyActivationDescriptor> {
public:
    // NaN propagation on: a NaN input must give a NaN output, never 0 (the project's ReLU rule).
    explicit ActivationDesc(cudnnActivationMode_t mode) {
        GS_CUDNN_CHECK(cudnnSetActivationDescriptor(get(), mode, CUDNN_PROPAGATE_NAN, 0.0));
    }
};

class OpTensorDesc : public Descriptor<cudnnOpTensorDescriptor_t, cudnnCreateOpTensorDescriptor, cudnnDestroyOpTensorDescriptor> {
public:
    // Computes in the data type (DOUBLE for double data, FLOAT otherwise); NaN propagates.
    OpTensorDesc(cudnnOpTensorOp_t op, cudnnDataType_t type) {
        GS_CUDNN_CHECK(cudnnSetOpTensorDescriptor(get(), op, type, CUDNN_PROPAGATE_NAN));
    }
};

}  // namespace gs::kernels::cuda
