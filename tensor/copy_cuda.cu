// CUDA copies: the strided/broadcast/converting copy kernel behind Tensor::copy_, the fill kernel
// behind fill_, and the host<->device and device<->device transfers behind to(Device).
#include <algorithm>
#include <cstring>

#include "tensor/convert.h"
#include "tensor/copy_cuda.h"
#include "tensor/cuda_allocator.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/indexer.h"
#include "tensor/launch.h"

namespace gs::detail {
namespace {

// Where the copy kernel reports the first value that does not fit the destination dtype.
struct ConvertError {
    unsigned int flag;  // 0 until a bad value is seen
    double value;
};

template <class D, class S>
__global__ void copy_kernel(D* dst, const S* src, StridedIndexer<2> ix, std::int64_t n, ConvertError* err) {
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
        std::int64_t off[2];
        ix.offsets(i, off);
        const S v = src[off[1]];
        if (fits<D>(v)) {
            dst[off[0]] = static_cast<D>(v);
        } else if (atomicCAS(&err->flag, 0u, 1u) == 0u) {
            err->value = double(v);  // the first thread to see one records it
        }
    }
}

template <class T>
__global__ void fill_kernel(T* dst, StridedIndexer<1> ix, std::int64_t n, T value) {
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
        std::int64_t off[1];
        ix.offsets(i, off);
        dst[off[0]] = value;
    }
}

// True when some S value does not fit D (so the kernel's range check can fire).
template <class D, class S>
constexpr bool may_not_fit() {
    if constexpr (std::is_floating_point_v<D> || std::is_same_v<D, S>) return false;
    else if constexpr (std::is_floating_point_v<S>) return true;
    else return std::is_same_v<D, std::uint8_t>;
}

// A small device block, returned to the caching allocator on scope exit.
struct DeviceBlock {
    void* ptr;
    DeviceBlock(std::size_t bytes, int device) : ptr(cuda_allocator::allocate(bytes, device)) {}
    ~DeviceBlock() { cuda_allocator::deallocate(ptr); }
    DeviceBlock(const DeviceBlock&) = delete;
    DeviceBlock& operator=(const DeviceBlock&) = delete;
};

struct PinnedBlock {
    void* ptr;
    explicit PinnedBlock(std::size_t bytes) : ptr(cuda_allocator::allocate_pinned(bytes)) {}
    ~PinnedBlock() { cuda_allocator::deallocate_pinned(ptr); }
    PinnedBlock(const PinnedBlock&) = delete;
    PinnedBlock& operator=(const PinnedBlock&) = delete;
};

// Host copies are staged through pinned buffers of at most this size, so a large tensor does not
// pin (and cache) a buffer of its own size.
constexpr std::size_t kStagingBytes = std::size_t(64) << 20;

}  // namespace

void cuda_copy(const Tensor& dst, const Tensor& src) {
    const std::int64_t n = dst.numel();
    if (n == 0) return;
    const int device = dst.device().index;
    CudaDeviceGuard guard(device);
    cudaStream_t stream = cuda_stream(device);
    if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
        GS_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), std::size_t(n) * dst.itemsize(),
                                      cudaMemcpyDeviceToDevice, stream));
        return;
    }
    visit_dtype(dst.dtype(), [&](auto dtag) {
        using D = decltype(dtag);
        visit_dtype(src.dtype(), [&](auto stag) {
            using S = decltype(stag);
            // Offsets from the storage bases, as for_each_row hands them to the CPU loop.
            D* dbase = static_cast<D*>(dst.storage()->data());
            const S* sbase = static_cast<const S*>(src.storage()->data());
            const auto ix = make_strided_indexer<2>(dst.shape(), {dst.strides(), src.strides()}, {dst.offset(), src.offset()});
            if constexpr (may_not_fit<D, S>()) {
                DeviceBlock err(sizeof(ConvertError), device);
                GS_CUDA_CHECK(cudaMemsetAsync(err.ptr, 0, sizeof(ConvertError), stream));
                copy_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(dbase, sbase, ix, n, static_cast<ConvertError*>(err.ptr));
                GS_CUDA_CHECK(cudaGetLastError());
                ConvertError host{};
                GS_CUDA_CHECK(cudaMemcpyAsync(&host, err.ptr, sizeof host, cudaMemcpyDeviceToHost, stream));
                GS_CUDA_CHECK(cudaStreamSynchronize(stream));
                GS_CHECK(host.flag == 0, "Tensor: cannot convert value ", host.value, " (", dtype_name(src.dtype()), ") to ",
                         dtype_name(dst.dtype()), ": it is outside the ", dtype_name(dst.dtype()), " range");
            } else {
                copy_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(dbase, sbase, ix, n, nullptr);
                GS_CUDA_CHECK(cudaGetLastError());
            }
        });
    });
}

void cuda_fill(const Tensor& dst, double value) {
    const std::int64_t n = dst.numel();
    if (n == 0) return;
    const int device = dst.device().index;
    CudaDeviceGuard guard(device);
    cudaStream_t stream = cuda_stream(device);
    visit_dtype(dst.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const auto ix = make_strided_indexer<1>(dst.shape(), {dst.strides()}, {dst.offset()});
        fill_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(static_cast<T*>(dst.storage()->data()), ix, n,
                                                             static_cast<T>(value));
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

void cuda_transfer(const Tensor& dst, const Tensor& src) {
    const std::size_t bytes = std::size_t(src.numel()) * src.itemsize();
    if (bytes == 0) return;
    const Device from = src.device(), to = dst.device();
    if (from.is_cuda() && to.is_cuda()) {
        // Work queued on the source stream (which may still be writing src) finishes first; the
        // wait at the end lets the caller free src, whose block the source stream may reuse.
        cuda_synchronize(from.index);
        CudaDeviceGuard guard(to.index);
        GS_CUDA_CHECK(cudaMemcpyPeerAsync(dst.raw_data(), to.index, src.raw_data(), from.index, bytes,
                                          cuda_stream(to.index)));
        cuda_synchronize(to.index);
        return;
    }
    const bool upload = to.is_cuda();
    const int device = upload ? to.index : from.index;
    CudaDeviceGuard guard(device);
    cudaStream_t stream = cuda_stream(device);
    PinnedBlock staging(std::min(bytes, kStagingBytes));
    auto* host = static_cast<char*>(upload ? src.raw_data() : dst.raw_data());
    auto* dev = static_cast<char*>(upload ? dst.raw_data() : src.raw_data());
    for (std::size_t at = 0; at < bytes; at += kStagingBytes) {
        const std::size_t len = std::min(kStagingBytes, bytes - at);
        if (upload) {
            std::memcpy(staging.ptr, host + at, len);
            GS_CUDA_CHECK(cudaMemcpyAsync(dev + at, staging.ptr, len, cudaMemcpyHostToDevice, stream));
            // The staging buffer is refilled (or returned) next, so the copy out of it must be done.
            GS_CUDA_CHECK(cudaStreamSynchronize(stream));
        } else {
            GS_CUDA_CHECK(cudaMemcpyAsync(staging.ptr, dev + at, len, cudaMemcpyDeviceToHost, stream));
            GS_CUDA_CHECK(cudaStreamSynchronize(stream));
            std::memcpy(host + at, staging.ptr, len);
        }
    }
}

}  // namespace gs::detail
