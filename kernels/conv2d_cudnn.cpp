// conv2d on CUDA with cuDNN: forward, backward data, backward filter and bias gradient, for every
// geometry kernels/conv2d.h supports (stride, padding, dilation, groups), f32 and f64.
//
// Algorithms come from cuDNN's heuristics (cudnnGet*Algorithm_v7), so the choice does not depend on
// timing noise, or, with conv_benchmark(), from timing each candidate once per shape
// (cudnnFind*AlgorithmEx). The math type is pinned to CUDNN_FMA_MATH (no TF32) unless
// allow_tf32() (f32; f64 has no reduced-precision math); with deterministic() only algorithms
// cuDNN reports as deterministic are used.
// Workspaces come from the caching allocator as u8 tensors. Descriptors and the chosen algorithm
// are made once per distinct call (see plan() below) and reused. NOTE: cuDNN 9 marks this imperative
// API deprecated in favour of the graph API; it is kept to this file (and batch_norm_cudnn.cpp,
// relu_cudnn.cpp) so a move stays local.
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda_settings.h"
#include "kernels/cudnn_raii.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/dtype.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;

// The descriptors of one convolution: x (N, C, H, W), w (K, C/groups, R, S), y (N, K, OH, OW).
struct ConvSetup {
    int device;
    cudnnDataType_t type;
    cudnnHandle_t handle;
    TensorDesc x, y;
    FilterDesc w;
    ConvDesc conv;

    ConvSetup(const char* op, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dGeometry& g, DType dtype,
              int dev)
        : device(dev),
          type(cudnn_dtype(dtype, op)),
          handle(cudnn_handle(dev)),
          x(type, cudnn_desc::packed_nchw(xs, op)),
          y(type, cudnn_desc::packed_nchw(ys, op)),
          w(type, cudnn_desc::packed_nchw(ws, op)),
          conv(type, cudnn_desc::conv_params(g, op)) {
        // Three definitions of the output size must agree: Conv2dGeometry's (which sized y),
        // cudnn_desc's formula, and what cuDNN itself computes from the descriptors.
        int dims[4] = {0, 0, 0, 0};
        GS_CUDNN_CHECK(cudnnGetConvolutionNdForwardOutputDim(conv.get(), x.get(), w.get(), 4, dims));
        const auto formula = cudnn_desc::conv_output_dims(cudnn_desc::packed_nchw(xs, op),
                                                          cudnn_desc::packed_nchw(ws, op), cudnn_desc::conv_params(g, op));
        for (int k = 0; k < 4; ++k)
            GS_CHECK(dims[k] == ys[std::size_t(k)] && formula[std::size_t(k)] == ys[std::size_t(k)], op,
                     ": internal error: cuDNN computes output dims (", dims[0], ", ", dims[1], ", ", dims[2], ", ",
                     dims[3], ") but conv2d.h gives ", shape_str(ys), " for input ", shape_str(xs), ", weight ",
                     shape_str(ws), " and ", g.str());
    }

    // The math type to run an algorithm the heuristics listed with `listed`. f32 without TF32:
    // CUDNN_FMA_MATH whatever was listed (cuDNN's DEFAULT math may use TF32 on Ampere and later;
    // an algorithm with no FMA kernel then fails its workspace query and the next one is tried).
    // f64 has no reduced-precision path (f64 tensor cores compute in full f64), and f32 with TF32
    // allowed takes what the heuristics list.
    cudnnMathType_t math_for(cudnnMathType_t listed) const {
        return type == CUDNN_DATA_FLOAT && !allow_tf32() ? CUDNN_FMA_MATH : listed;
    }
};

// A workspace of `bytes` from the caching allocator (undefined for 0), and its pointer.
struct Workspace {
    Tensor buffer;
    void* ptr = nullptr;
    Workspace(std::size_t bytes, int device) {
        if (bytes == 0) return;
        buffer = Tensor::empty({i64(bytes)}, DType::u8, Device::cuda(device));
        ptr = buffer.raw_data();
    }
};

// The workspace that timing the candidates may use; an algorithm needing more is skipped (Find
// reports it as failed).
constexpr std::size_t kFindWorkspaceBytes = std::size_t(256) << 20;

// The candidate algorithms of one pass, best first: timed by running each one (conv_benchmark()),
// or ranked by cuDNN's heuristics. `heuristic(n, &count, perf)` and `measure(n, &count, perf,
// workspace, bytes)` wrap the pass's cudnnGet*Algorithm_v7 and cudnnFind*AlgorithmEx. The math
// type is set first so that both rank what will run: FMA kernels for f32 unless TF32 is allowed.
template <class Perf, class Heuristic, class Measure>
std::vector<Perf> ranked(const ConvSetup& c, int max, Heuristic heuristic, Measure measure) {
    GS_CUDNN_CHECK(cudnnSetConvolutionMathType(c.conv.get(), c.math_for(CUDNN_DEFAULT_MATH)));
    std::vector<Perf> perf(static_cast<std::size_t>(max));
    int count = 0;
    if (conv_benchmark()) {
        const Workspace ws(kFindWorkspaceBytes, c.device);
        GS_CUDNN_CHECK(measure(max, &count, perf.data(), ws.ptr, kFindWorkspaceBytes));
    } else {
        GS_CUDNN_CHECK(heuristic(max, &count, perf.data()));
    }
    perf.resize(static_cast<std::size_t>(count));
    return perf;
}

// The first algorithm in the candidates' order that is allowed (status, determinism) and that
// cuDNN accepts with the pinned math type (its workspace query succeeds). Sets the math
// type on the convolution descriptor and returns the algorithm and its workspace size.
template <class Algo, class Perf, class WorkspaceSize>
std::pair<Algo, std::size_t> choose(const char* op, const ConvSetup& s, const std::vector<Perf>& perf,
                                    WorkspaceSize workspace_size, const Shape& xs, const Shape& ws,
                                    const Conv2dGeometry& g) {
    const bool det = deterministic();
    for (const Perf& p : perf) {
        if (p.status != CUDNN_STATUS_SUCCESS || (det && p.determinism != CUDNN_DETERMINISTIC)) continue;
        GS_CUDNN_CHECK(cudnnSetConvolutionMathType(s.conv.get(), s.math_for(p.mathType)));
        std::size_t bytes = 0;
        if (workspace_size(p.algo, &bytes) != CUDNN_STATUS_SUCCESS) continue;  // not supported with this math
        return {p.algo, bytes};
    }
    const bool fma_only = s.type == CUDNN_DATA_FLOAT && !allow_tf32();
    GS_FAIL(op, ": cuDNN offers no ", det ? "deterministic " : "", fma_only ? "FMA-math (non-TF32) " : "",
            "algorithm for input ", shape_str(xs), ", weight ", shape_str(ws), " and ", g.str(),
            det ? " (turn off deterministic mode)" : "");
}

// One pass of one convolution, ready to run: its descriptors (with the chosen math type set on the
// convolution descriptor), the algorithm (as int: the three passes have three enum types) and the
// workspace size.
struct ConvPlan {
    ConvSetup setup;
    int algo = 0;
    std::size_t workspace = 0;
    ConvPlan(const char* op, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dGeometry& g, DType dtype,
             int dev)
        : setup(op, xs, ws, ys, g, dtype, dev) {}
};

// The plan of pass `op` for these shapes, made by make(setup) -> {algo, workspace bytes} on the
// first call and reused after: descriptor setup and the heuristics query are host work that every
// step of a training loop would otherwise repeat for every convolution. The key holds everything
// the choice depends on, the deterministic and TF32 settings included, so changing either picks
// anew. Plans are never destroyed: their descriptors would be freed from a static destructor,
// possibly after cuDNN has shut down (the handles make the same choice).
template <class Make>
const ConvPlan& plan(const char* op, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dGeometry& g,
                     DType dtype, int dev, Make make) {
    static std::mutex mutex;
    static auto* plans = new std::unordered_map<std::string, std::unique_ptr<ConvPlan>>;
    std::ostringstream key;
    key << op << ' ' << dev << ' ' << dtype_name(dtype) << ' ' << shape_str(xs) << ' ' << shape_str(ws) << ' '
        << shape_str(ys) << ' ' << g.str() << " det=" << deterministic() << " tf32=" << allow_tf32()
        << " bench=" << conv_benchmark();
    std::lock_guard<std::mutex> lock(mutex);
    std::unique_ptr<ConvPlan>& slot = (*plans)[key.str()];
    if (!slot) {
        auto p = std::make_unique<ConvPlan>(op, xs, ws, ys, g, dtype, dev);
        std::tie(p->algo, p->workspace) = make(p->setup);
        slot = std::move(p);  // only a complete plan is kept: a throwing make() leaves the slot empty
    }
    return *slot;
}

void zero(const Tensor& t) {
    const int dev = t.device().index;
    GS_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, std::size_t(t.numel()) * t.itemsize(), cuda_stream(dev)));
}

template <class T>
void forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y) {
    const char* op = "conv2d_forward";
    const int dev = x.device().index;
    CudaDeviceGuard guard(dev);
    if (y.numel() == 0) return;
    const Scaling<T> s;
    if (w.numel() == 0) {
        zero(y);  // no input channels: the sum over C*R*S taps is empty
    } else {
        const ConvPlan& p = plan(op, x.shape(), w.shape(), y.shape(), g, x.dtype(), dev, [&](const ConvSetup& c) {
            using Perf = cudnnConvolutionFwdAlgoPerf_t;
            int max = 0;
            GS_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(c.handle, &max));
            const auto perf = ranked<Perf>(
                c, max,
                [&](int n, int* count, Perf* out) {
                    return cudnnGetConvolutionForwardAlgorithm_v7(c.handle, c.x.get(), c.w.get(), c.conv.get(),
                                                                  c.y.get(), n, count, out);
                },
                [&](int n, int* count, Perf* out, void* ws, std::size_t bytes) {
                    return cudnnFindConvolutionForwardAlgorithmEx(c.handle, c.x.get(), x.raw_data(), c.w.get(),
                                                                  w.raw_data(), c.conv.get(), c.y.get(), y.raw_data(),
                                                                  n, count, out, ws, bytes);
                });
            const auto [algo, bytes] = choose<cudnnConvolutionFwdAlgo_t>(
                op, c, perf,
                [&](cudnnConvolutionFwdAlgo_t a, std::size_t* n) {
                    return cudnnGetConvolutionForwardWorkspaceSize(c.handle, c.x.get(), c.w.get(), c.conv.get(),
                                                                   c.y.get(), a, n);
                },
                x.shape(), w.shape(), g);
            return std::pair<int, std::size_t>(int(algo), bytes);
        });
        const ConvSetup& c = p.setup;
        Workspace ws(p.workspace, dev);
        GS_CUDNN_CHECK(cudnnConvolutionForward(c.handle, &s.one, c.x.get(), x.raw_data(), c.w.get(), w.raw_data(),
                                               c.conv.get(), cudnnConvolutionFwdAlgo_t(p.algo), ws.ptr, p.workspace,
                                               &s.zero, c.y.get(), y.raw_data()));
    }
    if (b.defined()) {
        // y += b broadcast over (N, OH, OW): y was assigned just above, so the output is still
        // assigned exactly once as a whole.
        const TensorDesc bd(cudnn_dtype(x.dtype(), op), cudnn_desc::channel_view(b.size(0), op));
        const TensorDesc yd(cudnn_dtype(x.dtype(), op), cudnn_desc::packed_nchw(y.shape(), op));
        GS_CUDNN_CHECK(cudnnAddTensor(cudnn_handle(dev), &s.one, bd.get(), b.raw_data(), &s.one, yd.get(), y.raw_data()));
    }
}

template <class T>
void backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx) {
    const char* op = "conv2d_backward_input";
    const int dev = dy.device().index;
    CudaDeviceGuard guard(dev);
    if (dx.numel() == 0) return;
    if (dy.numel() == 0 || w.numel() == 0) return zero(dx);  // no output channels: nothing flows back
    const ConvPlan& p = plan(op, dx.shape(), w.shape(), dy.shape(), g, dy.dtype(), dev, [&](const ConvSetup& c) {
        using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
        int max = 0;
        GS_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(c.handle, &max));
        const auto perf = ranked<Perf>(
            c, max,
            [&](int n, int* count, Perf* out) {
                return cudnnGetConvolutionBackwardDataAlgorithm_v7(c.handle, c.w.get(), c.y.get(), c.conv.get(),
                                                                   c.x.get(), n, count, out);
            },
            [&](int n, int* count, Perf* out, void* ws, std::size_t bytes) {
                return cudnnFindConvolutionBackwardDataAlgorithmEx(c.handle, c.w.get(), w.raw_data(), c.y.get(),
                                                                   dy.raw_data(), c.conv.get(), c.x.get(),
                                                                   dx.raw_data(), n, count, out, ws, bytes);
            });
        const auto [algo, bytes] = choose<cudnnConvolutionBwdDataAlgo_t>(
            op, c, perf,
            [&](cudnnConvolutionBwdDataAlgo_t a, std::size_t* n) {
                return cudnnGetConvolutionBackwardDataWorkspaceSize(c.handle, c.w.get(), c.y.get(), c.conv.get(),
                                                                    c.x.get(), a, n);
            },
            dx.shape(), w.shape(), g);
        return std::pair<int, std::size_t>(int(algo), bytes);
    });
    const ConvSetup& c = p.setup;
    Workspace ws(p.workspace, dev);
    const Scaling<T> s;
    GS_CUDNN_CHECK(cudnnConvolutionBackwardData(c.handle, &s.one, c.w.get(), w.raw_data(), c.y.get(), dy.raw_data(),
                                                c.conv.get(), cudnnConvolutionBwdDataAlgo_t(p.algo), ws.ptr, p.workspace,
                                                &s.zero, c.x.get(), dx.raw_data()));
}

template <class T>
void backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw) {
    const char* op = "conv2d_backward_weight";
    const int dev = dy.device().index;
    CudaDeviceGuard guard(dev);
    if (dw.numel() == 0) return;
    if (dy.numel() == 0) return zero(dw);  // an empty batch: the sum over N is empty
    const ConvPlan& p = plan(op, x.shape(), dw.shape(), dy.shape(), g, dy.dtype(), dev, [&](const ConvSetup& c) {
        using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
        int max = 0;
        GS_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(c.handle, &max));
        const auto perf = ranked<Perf>(
            c, max,
            [&](int n, int* count, Perf* out) {
                return cudnnGetConvolutionBackwardFilterAlgorithm_v7(c.handle, c.x.get(), c.y.get(), c.conv.get(),
                                                                     c.w.get(), n, count, out);
            },
            [&](int n, int* count, Perf* out, void* ws, std::size_t bytes) {
                return cudnnFindConvolutionBackwardFilterAlgorithmEx(c.handle, c.x.get(), x.raw_data(), c.y.get(),
                                                                     dy.raw_data(), c.conv.get(), c.w.get(),
                                                                     dw.raw_data(), n, count, out, ws, bytes);
            });
        const auto [algo, bytes] = choose<cudnnConvolutionBwdFilterAlgo_t>(
            op, c, perf,
            [&](cudnnConvolutionBwdFilterAlgo_t a, std::size_t* n) {
                return cudnnGetConvolutionBackwardFilterWorkspaceSize(c.handle, c.x.get(), c.y.get(), c.conv.get(),
                                                                      c.w.get(), a, n);
            },
            x.shape(), dw.shape(), g);
        return std::pair<int, std::size_t>(int(algo), bytes);
    });
    const ConvSetup& c = p.setup;
    Workspace ws(p.workspace, dev);
    const Scaling<T> s;
    GS_CUDNN_CHECK(cudnnConvolutionBackwardFilter(c.handle, &s.one, c.x.get(), x.raw_data(), c.y.get(), dy.raw_data(),
                                                  c.conv.get(), cudnnConvolutionBwdFilterAlgo_t(p.algo), ws.ptr,
                                                  p.workspace, &s.zero, c.w.get(), dw.raw_data()));
}

template <class T>
void backward_bias(const Tensor& dy, Tensor& db) {
    const char* op = "conv2d_backward_bias";
    const int dev = dy.device().index;
    CudaDeviceGuard guard(dev);
    if (db.numel() == 0) return;
    if (dy.numel() == 0) return zero(db);  // an empty batch or image
    const cudnnDataType_t type = cudnn_dtype(dy.dtype(), op);
    const TensorDesc dyd(type, cudnn_desc::packed_nchw(dy.shape(), op));
    const TensorDesc dbd(type, cudnn_desc::channel_view(db.size(0), op));
    const Scaling<T> s;
    GS_CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_handle(dev), &s.one, dyd.get(), dy.raw_data(), &s.zero, dbd.get(),
                                                db.raw_data()));
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y) {
    visit_float(x.dtype(), "conv2d_forward", [&](auto tag) { forward<decltype(tag)>(x, w, b, g, y); });
}

void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx) {
    visit_float(dy.dtype(), "conv2d_backward_input", [&](auto tag) { backward_input<decltype(tag)>(dy, w, g, dx); });
}

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw) {
    visit_float(dy.dtype(), "conv2d_backward_weight", [&](auto tag) { backward_weight<decltype(tag)>(dy, x, g, dw); });
}

void conv2d_backward_bias(const Tensor& dy, Tensor& db) {
    visit_float(dy.dtype(), "conv2d_backward_bias", [&](auto tag) { backward_bias<decltype(tag)>(dy, db); });
}

}  // namespace gs::kernels::cuda
