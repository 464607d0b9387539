#pragma once
// Tensor: a strided view (shape, strides, offset) of a shared Storage, with a dtype and a device.
// This header holds the type, views, factories, copies and conversions; arithmetic lives in
// kernels/ and differentiation in autograd/. NOTE: nvcc parses this header through kernels/*.h,
// so it includes standard headers only.
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace gs {

class Tensor {
public:
    // An undefined tensor (defined() is false); most operations on it throw.
    Tensor() = default;
    // A view of `storage`; throws when the view reaches outside the storage.
    Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, std::int64_t offset, DType dtype);

    // ---- factories (contiguous results) -------------------------------------------------------
    static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
    static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
    static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
    static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
    static Tensor empty_like(const Tensor& t);  // same shape, dtype, device; contiguous
    static Tensor zeros_like(const Tensor& t);
    // 0, 1, ..., n-1 and start, start+step, ... (< end for step > 0, > end for step < 0).
    static Tensor arange(std::int64_t n, DType dtype = DType::i64);
    static Tensor arange(double start, double end, double step, DType dtype = DType::f32);
    // Copies `values` into a new CPU tensor of `shape` (numel must match).
    template <class T>
    static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
    template <class T>
    static Tensor from_vector(const std::vector<T>& values) { return from_vector(values, {std::int64_t(values.size())}); }
    // A 0-d tensor holding `value`.
    static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());

    // ---- metadata -------------------------------------------------------------------------------
    bool defined() const { return storage_ != nullptr; }
    const Shape& shape() const { return shape_; }
    const Strides& strides() const { return strides_; }
    std::int64_t dim() const { return std::int64_t(shape_.size()); }
    std::int64_t size(std::int64_t d) const;  // d may be negative
    std::int64_t stride(std::int64_t d) const;
    std::int64_t numel() const { return numel_; }
    std::int64_t offset() const { return offset_; }
    DType dtype() const { return dtype_; }
    Device device() const;
    bool is_cuda() const { return device().is_cuda(); }
    bool is_contiguous() const;
    const std::shared_ptr<Storage>& storage() const { return storage_; }
    bool shares_storage(const Tensor& other) const { return storage_ && storage_ == other.storage_; }
    std::size_t itemsize() const { return dtype_size(dtype_); }

    // Pointer to the first element. Throws when T is not the dtype or the tensor is undefined.
    template <class T> T* data() const;
    void* raw_data() const;

    // ---- views: share storage, never copy --------------------------------------------------------
    Tensor view(const Shape& shape) const;      // throws when the strides do not allow it; one dim may be -1
    Tensor reshape(const Shape& shape) const;   // a view when possible, else a contiguous copy
    Tensor flatten(std::int64_t start = 0, std::int64_t end = -1) const;
    Tensor permute(const std::vector<std::int64_t>& dims) const;
    Tensor transpose(std::int64_t a, std::int64_t b) const;
    Tensor t() const;  // 2-d transpose
    // Elements start, start+step, ... < end along dim (negative start/end count from the end and
    // are clamped like Python slices; step > 0).
    Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
    Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;  // exact bounds
    Tensor select(std::int64_t dim, std::int64_t index) const;  // drops dim; index may be negative
    Tensor unsqueeze(std::int64_t dim) const;
    Tensor squeeze(std::int64_t dim) const;  // no-op when size(dim) != 1
    Tensor squeeze() const;                  // drops every size-1 dim
    // Broadcast to `shape` with stride 0 in the repeated dims (numpy rules; -1 keeps a size).
    Tensor expand(const Shape& shape) const;

    // ---- copies and conversions -------------------------------------------------------------------
    Tensor contiguous() const;  // *this when already contiguous, else a copy
    Tensor clone() const;       // always a contiguous copy
    // Copies src into *this elementwise; src is broadcast to this shape and converted to this
    // dtype. Same device only. *this may be a non-contiguous view (writes go through it).
    Tensor& copy_(const Tensor& src);
    Tensor& fill_(double value);
    Tensor& zero_() { return fill_(0.0); }
    Tensor to(DType dtype) const;    // *this when the dtype already matches
    Tensor to(Device device) const;  // the only host<->device copy; *this when already there

    // The single element of a one-element tensor, converted to T.
    template <class T = double> T item() const;
    // The element at `index` (one entry per dim, negative allowed), converted to T. For tests and
    // debugging, not hot loops.
    template <class T = double> T at(std::initializer_list<std::int64_t> index) const;
    // Contiguous copy of all elements, converted to T.
    template <class T> std::vector<T> to_vector() const;

    // "tensor(shape=[2, 3], dtype=f32, device=cpu)\n[[...]]"; long tensors are summarized.
    std::string str() const;
    // "[2, 3] f32 cpu": for error messages.
    std::string describe() const;

private:
    void check_defined(const char* op) const;
    std::int64_t element_offset(std::initializer_list<std::int64_t> index) const;
    template <class T> T load(std::int64_t element_offset) const;

    std::shared_ptr<Storage> storage_;
    Shape shape_;
    Strides strides_;
    std::int64_t offset_ = 0;
    std::int64_t numel_ = 0;
    DType dtype_ = DType::f32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Joins tensors of equal shape except along `dim`. All on one device with one dtype.
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t dim);
// Joins tensors of equal shape along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim);

// Throws naming `op` unless every tensor is defined and on the same device as the first.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws naming `op` unless every tensor has the dtype of the first.
void check_same_dtype(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws naming `op` unless every tensor has the shape of the first.
void check_same_shape(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws naming `op` and `what` unless t is defined and contiguous.
void check_contiguous(const char* op, const Tensor& t, const char* what);

// ---- template definitions -------------------------------------------------------------------------

template <class T>
T* Tensor::data() const {
    check_defined("data");
    GS_CHECK(dtype_of<T>() == dtype_, "Tensor::data: requested ", dtype_name(dtype_of<T>()),
             " but the tensor is ", dtype_name(dtype_));
    return static_cast<T*>(storage_->data()) + offset_;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
    GS_CHECK(std::int64_t(values.size()) == gs::numel(shape), "Tensor::from_vector: ", values.size(),
             " values do not fill shape ", shape_str(shape));
    Tensor t = empty(shape, dtype_of<T>());
    T* p = t.data<T>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = values[i];
    return t;
}

template <class T>
T Tensor::item() const {
    check_defined("item");
    GS_CHECK(numel_ == 1, "Tensor::item: expected one element, the tensor has shape ", shape_str(shape_));
    return load<T>(offset_);
}

template <class T>
T Tensor::at(std::initializer_list<std::int64_t> index) const {
    return load<T>(element_offset(index));
}

template <class T>
T Tensor::load(std::int64_t off) const {
    GS_CHECK(device().is_cpu(), "Tensor: reading elements needs a CPU tensor, this one is on ", device().str(),
             " (copy it with .to(Device::cpu()) first)");
    return visit_dtype(dtype_, [&](auto tag) {
        using S = decltype(tag);
        return static_cast<T>(static_cast<const S*>(storage_->data())[off]);
    });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
    check_defined("to_vector");
    GS_CHECK(device().is_cpu(), "Tensor::to_vector: reading elements needs a CPU tensor, this one is on ",
             device().str(), " (copy it with .to(Device::cpu()) first)");
    Tensor c = to(dtype_of<T>()).contiguous();
    const T* p = c.data<T>();
    return std::vector<T>(p, p + c.numel());
}

}  // namespace gs
