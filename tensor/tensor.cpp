// Tensor: construction, views, copies, conversions and printing.
#include "tensor/tensor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <utility>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "tensor/convert.h"
#include "tensor/strided.h"

#ifdef GRADSCOPE_WITH_CUDA
#include "tensor/copy_cuda.h"
#endif

namespace gs {
Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Strides strides, std::int64_t offset, DType dtype)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset), dtype_(dtype) {
    GS_CHECK(storage_ != nullptr, "Tensor: null storage");
    GS_CHECK(shape_.size() == strides_.size(), "Tensor: shape ", shape_str(shape_), " and strides ",
             shape_str(strides_), " differ in length");
    for (auto s : shape_) GS_CHECK(s >= 0, "Tensor: negative size in shape ", shape_str(shape_));
    numel_ = gs::numel(shape_);
    if (numel_ > 0) {
        // The lowest and highest element offsets the view reaches, with every product checked: a
        // wrapped bound would let a view read outside its storage.
        std::int64_t lo = offset_, hi = offset_;
        bool overflow = offset_ < 0;
        for (std::size_t d = 0; d < shape_.size() && !overflow; ++d) {
            std::int64_t span = 0;
            overflow = __builtin_mul_overflow(shape_[d] - 1, strides_[d], &span) ||
                       __builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi);
        }
        std::int64_t end_bytes = 0;
        overflow = overflow || __builtin_mul_overflow(hi + 1, std::int64_t(dtype_size(dtype_)), &end_bytes);
        GS_CHECK(!overflow && lo >= 0 && std::uint64_t(end_bytes) <= storage_->bytes(),
                 "Tensor: view of shape ", shape_str(shape_), " strides ", shape_str(strides_), " offset ",
                 offset_, " reaches outside its storage of ", storage_->bytes(), " bytes");
    }
}

// ---- factories ------------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    for (auto s : shape) GS_CHECK(s >= 0, "Tensor::empty: negative size in shape ", shape_str(shape));
    std::int64_t bytes = 0;
    GS_CHECK(!__builtin_mul_overflow(gs::numel(shape), std::int64_t(dtype_size(dtype)), &bytes),
             "Tensor::empty: shape ", shape_str(shape), " of ", dtype_name(dtype), " needs more bytes than an int64 holds");
    auto storage = std::make_shared<Storage>(std::size_t(bytes), device);
    return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    t.fill_(value);
    return t;
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::empty_like(const Tensor& t) {
    t.check_defined("empty_like");
    return empty(t.shape(), t.dtype(), t.device());
}
Tensor Tensor::zeros_like(const Tensor& t) {
    t.check_defined("zeros_like");
    return zeros(t.shape(), t.dtype(), t.device());
}
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::arange(std::int64_t n, DType dtype) { return arange(0.0, double(n), 1.0, dtype); }

Tensor Tensor::arange(double start, double end, double step, DType dtype) {
    GS_CHECK(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
             "Tensor::arange: invalid range start=", start, " end=", end, " step=", step);
    const double count = std::max(0.0, std::ceil((end - start) / step));
    GS_CHECK(count < 9e18, "Tensor::arange: range start=", start, " end=", end, " step=", step, " has too many elements");
    const auto n = std::int64_t(count);
    Tensor t = empty({n}, dtype);
    visit_dtype(dtype, [&](auto tag) {
        using T = decltype(tag);
        GS_CHECK(n == 0 || (fits<T>(start) && fits<T>(start + double(n - 1) * step)), "Tensor::arange: range [", start,
                 ", ", end, ") does not fit ", dtype_name(dtype));
        T* p = t.data<T>();
        for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + double(i) * step);
    });
    return t;
}

// ---- metadata -------------------------------------------------------------------------------------

void Tensor::check_defined(const char* op) const {
    GS_CHECK(defined(), "Tensor::", op, ": the tensor is undefined");
}

std::int64_t Tensor::size(std::int64_t d) const { return shape_[std::size_t(wrap_dim(d, dim(), "Tensor::size"))]; }
std::int64_t Tensor::stride(std::int64_t d) const { return strides_[std::size_t(wrap_dim(d, dim(), "Tensor::stride"))]; }
Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

bool Tensor::is_contiguous() const {
    std::int64_t expected = 1;
    for (std::size_t i = shape_.size(); i-- > 0;) {
        if (shape_[i] == 1) continue;
        if (strides_[i] != expected) return false;
        expected *= shape_[i];
    }
    return true;
}

void* Tensor::raw_data() const {
    check_defined("raw_data");
    return static_cast<char*>(storage_->data()) + offset_ * std::int64_t(itemsize());
}

std::int64_t Tensor::element_offset(std::initializer_list<std::int64_t> index) const {
    check_defined("at");
    GS_CHECK(std::int64_t(index.size()) == dim(), "Tensor::at: ", index.size(), " indices for a tensor of shape ",
             shape_str(shape_));
    std::int64_t off = offset_;
    std::size_t d = 0;
    for (std::int64_t i : index) {
        const std::int64_t j = i < 0 ? i + shape_[d] : i;
        GS_CHECK(j >= 0 && j < shape_[d], "Tensor::at: index ", i, " is out of range for dim ", d, " of size ", shape_[d]);
        off += j * strides_[d++];
    }
    return off;
}

// ---- views ----------------------------------------------------------------------------------------

namespace {

// Resolves a single -1 in `shape` against numel; throws naming op otherwise.
Shape infer_shape(Shape shape, std::int64_t numel, const Shape& from, const char* op) {
    std::int64_t known = 1, infer = -1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            GS_CHECK(infer < 0, op, ": more than one -1 in shape ", shape_str(shape));
            infer = std::int64_t(i);
        } else {
            GS_CHECK(shape[i] >= 0, op, ": negative size in shape ", shape_str(shape));
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        GS_CHECK(known != 0 && numel % known == 0, op, ": cannot reshape ", shape_str(from), " into ", shape_str(shape));
        shape[std::size_t(infer)] = numel / known;
    }
    GS_CHECK(gs::numel(shape) == numel, op, ": cannot reshape ", shape_str(from), " (", numel, " elements) into ",
             shape_str(shape));
    return shape;
}

// Strides that view (shape, strides) as new_shape without copying, or empty when impossible.
// Walks groups of old dims that multiply to groups of new dims; each old group must be contiguous.
bool view_strides(const Shape& shape, const Strides& strides, const Shape& new_shape, Strides& out) {
    out.assign(new_shape.size(), 0);
    if (gs::numel(shape) == 0) {
        out = contiguous_strides(new_shape);
        return true;
    }
    std::size_t i = 0, j = 0;
    const std::size_t n = shape.size(), m = new_shape.size();
    while (i < n || j < m) {
        // Size-1 dims carry no stride constraint.
        if (j < m && new_shape[j] == 1) { out[j] = 1; ++j; continue; }
        if (i < n && shape[i] == 1) { ++i; continue; }
        if (i >= n || j >= m) return false;
        std::int64_t old_size = shape[i], new_size = new_shape[j];
        std::size_t i_end = i + 1, j_end = j + 1;
        while (old_size != new_size) {
            if (old_size < new_size) {
                if (i_end >= n) return false;
                old_size *= shape[i_end++];
            } else {
                if (j_end >= m) return false;
                new_size *= new_shape[j_end++];
            }
        }
        // The old group [i, i_end) must be contiguous among its non-trivial dims.
        std::int64_t last = -1;
        for (std::size_t k = i; k < i_end; ++k) {
            if (shape[k] == 1) continue;
            if (last >= 0 && strides[std::size_t(last)] != strides[k] * shape[k]) return false;
            last = std::int64_t(k);
        }
        std::int64_t st = last >= 0 ? strides[std::size_t(last)] : 1;
        for (std::size_t k = j_end; k-- > j;) {
            out[k] = st;
            st *= new_shape[k];
        }
        i = i_end;
        j = j_end;
    }
    return true;
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
    check_defined("view");
    const Shape s = infer_shape(shape, numel_, shape_, "Tensor::view");
    Strides st;
    GS_CHECK(view_strides(shape_, strides_, s, st), "Tensor::view: a tensor of shape ", shape_str(shape_),
             " and strides ", shape_str(strides_), " cannot be viewed as ", shape_str(s),
             " without a copy; use reshape");
    return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::reshape(const Shape& shape) const {
    check_defined("reshape");
    const Shape s = infer_shape(shape, numel_, shape_, "Tensor::reshape");
    Strides st;
    if (view_strides(shape_, strides_, s, st)) return Tensor(storage_, s, st, offset_, dtype_);
    return clone().view(s);
}

Tensor Tensor::flatten(std::int64_t start, std::int64_t end) const {
    check_defined("flatten");
    if (dim() == 0) return view({1});
    const std::int64_t a = wrap_dim(start, dim(), "Tensor::flatten"), b = wrap_dim(end, dim(), "Tensor::flatten");
    GS_CHECK(a <= b, "Tensor::flatten: start dim ", start, " is after end dim ", end);
    Shape s(shape_.begin(), shape_.begin() + a);
    std::int64_t mid = 1;
    for (std::int64_t d = a; d <= b; ++d) mid *= shape_[std::size_t(d)];
    s.push_back(mid);
    s.insert(s.end(), shape_.begin() + b + 1, shape_.end());
    return reshape(s);
}

Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
    check_defined("permute");
    GS_CHECK(std::int64_t(dims.size()) == dim(), "Tensor::permute: ", dims.size(), " dims given for a tensor of shape ",
             shape_str(shape_));
    Shape s(dims.size());
    Strides st(dims.size());
    std::vector<bool> seen(dims.size(), false);
    for (std::size_t i = 0; i < dims.size(); ++i) {
        const auto d = std::size_t(wrap_dim(dims[i], dim(), "Tensor::permute"));
        GS_CHECK(!seen[d], "Tensor::permute: dim ", dims[i], " appears twice in ", shape_str(dims));
        seen[d] = true;
        s[i] = shape_[d];
        st[i] = strides_[d];
    }
    return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::transpose(std::int64_t a, std::int64_t b) const {
    check_defined("transpose");
    std::vector<std::int64_t> dims(static_cast<std::size_t>(dim()));
    for (std::size_t i = 0; i < dims.size(); ++i) dims[i] = std::int64_t(i);
    std::swap(dims[std::size_t(wrap_dim(a, dim(), "Tensor::transpose"))], dims[std::size_t(wrap_dim(b, dim(), "Tensor::transpose"))]);
    return permute(dims);
}

Tensor Tensor::t() const {
    GS_CHECK(dim() == 2, "Tensor::t: expected a 2-d tensor, got shape ", shape_str(shape_));
    return transpose(0, 1);
}

Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
    check_defined("slice");
    const auto dd = std::size_t(wrap_dim(d, dim(), "Tensor::slice"));
    GS_CHECK(step > 0, "Tensor::slice: step must be positive, got ", step);
    const std::int64_t n = shape_[dd];
    auto clampi = [n](std::int64_t i) { return std::clamp(i < 0 ? i + n : i, std::int64_t(0), n); };
    const std::int64_t a = clampi(start), b = std::max(clampi(end), a);
    Shape s = shape_;
    Strides st = strides_;
    s[dd] = b == a ? 0 : 1 + (b - a - 1) / step;  // not (b - a + step - 1) / step: that overflows for huge steps
    // With one element or none the stride is never used, and a huge step must not overflow it.
    if (s[dd] > 1)
        GS_CHECK(!__builtin_mul_overflow(strides_[dd], step, &st[dd]), "Tensor::slice: step ", step, " is too large");
    return Tensor(storage_, s, st, offset_ + a * strides_[dd], dtype_);
}

Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
    check_defined("narrow");
    const auto dd = std::size_t(wrap_dim(d, dim(), "Tensor::narrow"));
    GS_CHECK(start >= 0 && length >= 0 && start + length <= shape_[dd], "Tensor::narrow: range [", start, ", ",
             start + length, ") is out of bounds for dim ", d, " of size ", shape_[dd]);
    return slice(d, start, start + length);
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
    check_defined("select");
    const auto dd = std::size_t(wrap_dim(d, dim(), "Tensor::select"));
    const std::int64_t i = index < 0 ? index + shape_[dd] : index;
    GS_CHECK(i >= 0 && i < shape_[dd], "Tensor::select: index ", index, " is out of range for dim ", d, " of size ",
             shape_[dd]);
    Shape s = shape_;
    Strides st = strides_;
    s.erase(s.begin() + std::int64_t(dd));
    st.erase(st.begin() + std::int64_t(dd));
    return Tensor(storage_, s, st, offset_ + i * strides_[dd], dtype_);
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
    check_defined("unsqueeze");
    const auto dd = std::size_t(wrap_dim(d, dim() + 1, "Tensor::unsqueeze"));
    Shape s = shape_;
    Strides st = strides_;
    const std::int64_t stride = dd < shape_.size() ? strides_[dd] * shape_[dd] : 1;
    s.insert(s.begin() + std::int64_t(dd), 1);
    st.insert(st.begin() + std::int64_t(dd), stride);
    return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::squeeze(std::int64_t d) const {
    check_defined("squeeze");
    const auto dd = std::size_t(wrap_dim(d, dim(), "Tensor::squeeze"));
    if (shape_[dd] != 1) return *this;
    Shape s = shape_;
    Strides st = strides_;
    s.erase(s.begin() + std::int64_t(dd));
    st.erase(st.begin() + std::int64_t(dd));
    return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::squeeze() const {
    check_defined("squeeze");
    Shape s;
    Strides st;
    for (std::size_t d = 0; d < shape_.size(); ++d)
        if (shape_[d] != 1) { s.push_back(shape_[d]); st.push_back(strides_[d]); }
    return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::expand(const Shape& shape) const {
    check_defined("expand");
    GS_CHECK(shape.size() >= shape_.size(), "Tensor::expand: cannot expand shape ", shape_str(shape_), " to ",
             shape_str(shape));
    const std::size_t lead = shape.size() - shape_.size();
    Shape s(shape.size());
    Strides st(shape.size(), 0);
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i < lead) {
            GS_CHECK(shape[i] >= 0, "Tensor::expand: invalid size ", shape[i], " in ", shape_str(shape));
            s[i] = shape[i];
            continue;
        }
        const std::int64_t have = shape_[i - lead];
        const std::int64_t want = shape[i] == -1 ? have : shape[i];
        GS_CHECK(want == have || have == 1, "Tensor::expand: cannot expand shape ", shape_str(shape_), " to ",
                 shape_str(shape));
        s[i] = want;
        st[i] = want == have ? strides_[i - lead] : 0;
    }
    return Tensor(storage_, s, st, offset_, dtype_);
}

// ---- copies and conversions ---------------------------------------------------------------------------

namespace {

// True when two elements of t share memory (a broadcast dim, or strides that interleave): writing
// through such a view is ambiguous. Sufficient test: with dims sorted by stride, each stride must
// step over everything the smaller dims reach.
bool has_internal_overlap(const Tensor& t) {
    std::vector<std::pair<std::int64_t, std::int64_t>> dims;  // (|stride|, size) of non-trivial dims
    for (std::int64_t d = 0; d < t.dim(); ++d)
        if (t.size(d) > 1) dims.emplace_back(std::abs(t.stride(d)), t.size(d));
    std::sort(dims.begin(), dims.end());
    std::int64_t reach = 0;  // max offset reached by the dims so far
    for (const auto& [stride, size] : dims) {
        if (stride <= reach) return true;
        reach += stride * (size - 1);
    }
    return false;
}

// The element-offset interval [lo, hi] a view touches.
std::pair<std::int64_t, std::int64_t> element_range(const Tensor& t) {
    std::int64_t lo = t.offset(), hi = t.offset();
    for (std::int64_t d = 0; d < t.dim(); ++d) {
        const std::int64_t span = (t.size(d) - 1) * t.stride(d);
        (span < 0 ? lo : hi) += span;
    }
    return {lo, hi};
}

// Whether src and dst read and write overlapping bytes of one storage (and are not the very same view).
bool overlaps(const Tensor& dst, const Tensor& src) {
    if (!dst.shares_storage(src) || dst.numel() == 0) return false;
    if (dst.offset() == src.offset() && dst.strides() == src.strides() && dst.dtype() == src.dtype()) return false;
    const auto [dlo, dhi] = element_range(dst);
    const auto [slo, shi] = element_range(src);
    const auto di = std::int64_t(dst.itemsize()), si = std::int64_t(src.itemsize());
    return dlo * di < (shi + 1) * si && slo * si < (dhi + 1) * di;
}

}  // namespace

Tensor& Tensor::copy_(const Tensor& src) {
    check_defined("copy_");
    src.check_defined("copy_");
    check_same_device("Tensor::copy_", {this, &src});
    GS_CHECK(!has_internal_overlap(*this), "Tensor::copy_: the destination ", describe(), " with strides ",
             shape_str(strides_), " has elements that share memory (an expanded view?); copy into a contiguous tensor");
    Tensor s = src.shape_ == shape_ ? src : src.expand(shape_);
    // Reading rows that earlier rows already overwrote would be wrong: copy the source aside first.
    if (overlaps(*this, s)) s = s.clone();
    if (device().is_cuda()) {
#ifdef GRADSCOPE_WITH_CUDA
        detail::cuda_copy(*this, s);
        return *this;
#endif
    }
    visit_dtype(dtype_, [&](auto dtag) {
        using D = decltype(dtag);
        visit_dtype(s.dtype_, [&](auto stag) {
            using S = decltype(stag);
            D* dst = static_cast<D*>(storage_->data());
            const S* sp = static_cast<const S*>(s.storage_->data());
            std::atomic<bool> out_of_range{false};
            double bad_value = 0;
            for_each_row<2>(shape_, {strides_, s.strides_}, {offset_, s.offset_},
                            [&](const std::array<std::int64_t, 2>& off, std::int64_t n, const std::array<std::int64_t, 2>& inc) {
                                D* d = dst + off[0];
                                const S* x = sp + off[1];
                                if constexpr (std::is_same_v<D, S>) {
                                    if (inc[0] == 1 && inc[1] == 1) {
                                        std::memcpy(d, x, std::size_t(n) * sizeof(D));
                                        return;
                                    }
                                }
                                for (std::int64_t i = 0; i < n; ++i) {
                                    const S v = x[i * inc[1]];
                                    if (fits<D>(v)) {
                                        d[i * inc[0]] = static_cast<D>(v);
                                    } else if (!out_of_range.exchange(true)) {
                                        bad_value = double(v);  // the first thread to see one records it
                                    }
                                }
                            });
            GS_CHECK(!out_of_range, "Tensor: cannot convert value ", bad_value, " (", dtype_name(s.dtype_), ") to ",
                     dtype_name(dtype_), ": it is outside the ", dtype_name(dtype_), " range");
        });
    });
    return *this;
}

Tensor& Tensor::fill_(double value) {
    check_defined("fill_");
    visit_dtype(dtype_, [&](auto tag) {
        using T = decltype(tag);
        GS_CHECK(fits<T>(value), "Tensor::fill_: value ", value, " is outside the range of ", dtype_name(dtype_));
        if (device().is_cuda()) {
#ifdef GRADSCOPE_WITH_CUDA
            detail::cuda_fill(*this, value);
            return;
#endif
        }
        T* base = static_cast<T*>(storage_->data());
        const T v = static_cast<T>(value);
        for_each_row<1>(shape_, {strides_}, {offset_},
                        [&](const std::array<std::int64_t, 1>& off, std::int64_t n, const std::array<std::int64_t, 1>& inc) {
                            T* p = base + off[0];
                            for (std::int64_t i = 0; i < n; ++i) p[i * inc[0]] = v;
                        });
    });
    return *this;
}

Tensor Tensor::contiguous() const {
    check_defined("contiguous");
    return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
    check_defined("clone");
    Tensor out = empty(shape_, dtype_, device());
    out.copy_(*this);
    return out;
}

Tensor Tensor::to(DType dtype) const {
    check_defined("to");
    if (dtype == dtype_) return *this;
    Tensor out = empty(shape_, dtype, device());
    out.copy_(*this);
    return out;
}

Tensor Tensor::to(Device device) const {
    check_defined("to");
    if (device == this->device()) return *this;
#ifdef GRADSCOPE_WITH_CUDA
    // The bytes move as one contiguous block, made contiguous on the source device first; the
    // result is a contiguous tensor of the same shape and dtype (allocating it checks the device).
    const Tensor src = contiguous();
    Tensor out = empty(shape_, dtype_, device);
    detail::cuda_transfer(out, src);
    return out;
#else
    GS_FAIL("Tensor::to: cannot move a tensor from ", this->device().str(), " to ", device.str(),
            ": gradscope was built without CUDA (use --device cpu)");
#endif
}

// ---- printing -------------------------------------------------------------------------------------------

namespace {

void print_rec(std::ostream& os, const Tensor& t, std::int64_t d, std::int64_t off, int indent) {
    constexpr std::int64_t kEdge = 3;  // elements shown at each end of a long dim
    const std::int64_t n = t.size(d);
    const bool summarize = t.numel() > 1000 && n > 2 * kEdge;
    os << "[";
    for (std::int64_t i = 0; i < n; ++i) {
        if (summarize && i == kEdge) {
            os << (d + 1 == t.dim() ? "..., " : "...,\n" + std::string(std::size_t(indent + 1), ' '));
            i = n - kEdge;
        }
        const std::int64_t o = off + i * t.stride(d);
        if (d + 1 == t.dim()) {
            visit_dtype(t.dtype(), [&](auto tag) {
                using T = decltype(tag);
                const T v = static_cast<const T*>(t.storage()->data())[o];
                if constexpr (std::is_floating_point_v<T>) os << std::setprecision(6) << v;
                else os << std::int64_t(v);
            });
        } else {
            print_rec(os, t, d + 1, o, indent + 1);
        }
        if (i + 1 < n) os << (d + 1 == t.dim() ? ", " : ",\n" + std::string(std::size_t(indent + 1), ' '));
    }
    os << "]";
}

}  // namespace

std::string Tensor::describe() const {
    if (!defined()) return "undefined";
    return shape_str(shape_) + " " + dtype_name(dtype_) + " " + device().str();
}

std::string Tensor::str() const {
    if (!defined()) return "tensor(undefined)";
    std::ostringstream os;
    os << "tensor(shape=" << shape_str(shape_) << ", dtype=" << dtype_name(dtype_) << ", device=" << device().str() << ")\n";
    if (!device().is_cpu()) return os.str();
    if (dim() == 0) {
        os << item<double>();
    } else if (numel_ == 0) {
        os << "[]";
    } else {
        print_rec(os, *this, 0, offset_, 0);
    }
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- joining ---------------------------------------------------------------------------------------------

Tensor concat(const std::vector<Tensor>& tensors, std::int64_t dim) {
    GS_CHECK(!tensors.empty(), "concat: no tensors given");
    const Tensor& first = tensors[0];
    GS_CHECK(first.defined() && first.dim() > 0, "concat: cannot concatenate 0-d or undefined tensors");
    const auto d = std::size_t(wrap_dim(dim, first.dim(), "concat"));
    Shape out_shape = first.shape();
    out_shape[d] = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const Tensor& t = tensors[i];
        GS_CHECK(t.defined(), "concat: tensor ", i, " is undefined");
        GS_CHECK(t.dtype() == first.dtype() && t.device() == first.device(), "concat: tensor ", i, " is ",
                 t.describe(), " but tensor 0 is ", first.describe());
        bool ok = t.dim() == first.dim();
        for (std::size_t k = 0; ok && k < first.shape().size(); ++k) ok = k == d || t.shape()[k] == first.shape()[k];
        GS_CHECK(ok, "concat: tensor ", i, " has shape ", shape_str(t.shape()), ", incompatible with ",
                 shape_str(first.shape()), " along dim ", dim);
        out_shape[d] += t.shape()[d];
    }
    Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
    std::int64_t at = 0;
    for (const Tensor& t : tensors) {
        out.narrow(std::int64_t(d), at, t.shape()[d]).copy_(t);
        at += t.shape()[d];
    }
    return out;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
    GS_CHECK(!tensors.empty(), "stack: no tensors given");
    const std::int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
    std::vector<Tensor> parts;
    parts.reserve(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        GS_CHECK(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
                 tensors[i].defined() ? shape_str(tensors[i].shape()) : "undefined", " but tensor 0 has ",
                 shape_str(tensors[0].shape()));
        parts.push_back(tensors[i].unsqueeze(d));
    }
    return concat(parts, d);
}

// ---- checks ---------------------------------------------------------------------------------------------

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
    const Tensor* first = *tensors.begin();
    for (const Tensor* t : tensors) {
        GS_CHECK(t->defined(), op, ": an input tensor is undefined");
        GS_CHECK(t->device() == first->device(), op, ": tensors on different devices: ", first->device().str(),
                 " and ", t->device().str());
    }
}

void check_same_dtype(const char* op, std::initializer_list<const Tensor*> tensors) {
    const Tensor* first = *tensors.begin();
    for (const Tensor* t : tensors) {
        GS_CHECK(t->defined(), op, ": an input tensor is undefined");
        GS_CHECK(t->dtype() == first->dtype(), op, ": dtype mismatch: ", dtype_name(first->dtype()), " and ",
                 dtype_name(t->dtype()));
    }
}

void check_same_shape(const char* op, std::initializer_list<const Tensor*> tensors) {
    const Tensor* first = *tensors.begin();
    for (const Tensor* t : tensors) {
        GS_CHECK(t->defined(), op, ": an input tensor is undefined");
        GS_CHECK(t->shape() == first->shape(), op, ": shape mismatch: ", shape_str(first->shape()), " and ",
                 shape_str(t->shape()));
    }
}

void check_contiguous(const char* op, const Tensor& t, const char* what) {
    GS_CHECK(t.defined(), op, ": ", what, " is undefined");
    GS_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous (shape ", shape_str(t.shape()), ", strides ",
             shape_str(t.strides()), ")");
}

}  // namespace gs
