#pragma once
// Generic CPU loops that apply an elementwise functor to N strided, broadcast operands and assign a
// contiguous output. No formulas live here: the functor (from an <op>.h) is the whole math.
//
//   map<Out, In...>(out, f, {&in_0, ..., &in_{N-1}})   out[i] = f(in_0[i], ..., in_{N-1}[i])
//
// Each input is broadcast to out's shape (numpy rules, via Tensor::expand, so a broadcast dim has
// stride 0) and may be any strided view. `out` must be contiguous and must not alias an input.
// The element types are explicit: Out for the output, In... for the inputs in order; they must
// match the tensors' dtypes (Tensor::data checks it).
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "tensor/strided.h"
#include "tensor/tensor.h"

namespace gs::kernels::cpu {

namespace detail {

template <class Out, class... In, class F, std::size_t... I>
void map_impl(Tensor& out, F f, const std::array<const Tensor*, sizeof...(In)>& in, std::index_sequence<I...>) {
    constexpr std::size_t K = 1 + sizeof...(In);
    const std::int64_t n = out.numel();
    if (n == 0) return;
    Out* dst = out.data<Out>();

    // Fast path: every input is contiguous with out's shape (step 1) or a single element (step 0):
    // one flat loop that OpenMP can split evenly however the rows fall.
    bool flat = true;
    std::array<std::int64_t, sizeof...(In)> step{};
    for (std::size_t k = 0; k < sizeof...(In); ++k) {
        if (in[k]->numel() == 1) step[k] = 0;
        else if (in[k]->shape() == out.shape() && in[k]->is_contiguous()) step[k] = 1;
        else flat = false;
    }
    if (flat) {
        const std::tuple<const In*...> p{in[I]->template data<In>()...};
        if (((step[I] == 1) && ...)) {
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
            for (std::int64_t i = 0; i < n; ++i) dst[i] = f(std::get<I>(p)[i]...);
        } else {
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
            for (std::int64_t i = 0; i < n; ++i) dst[i] = f(std::get<I>(p)[i * step[I]]...);
        }
        return;
    }

    // General path: rows of the broadcast/strided layout, contiguous rows get a unit-stride loop.
    const std::array<Tensor, sizeof...(In)> ex{in[I]->expand(out.shape())...};
    // Storage bases, so that the offsets for_each_row hands back (which include each view's own
    // offset) index them directly.
    const std::tuple<const In*...> src{(ex[I].template data<In>() - ex[I].offset())...};
    const std::array<Strides, K> strides{out.strides(), ex[I].strides()...};
    const std::array<std::int64_t, K> base{0, ex[I].offset()...};
    for_each_row<K>(out.shape(), strides, base,
                    [&](const std::array<std::int64_t, K>& off, std::int64_t len, const std::array<std::int64_t, K>& inc) {
                        Out* d = dst + off[0];
                        if (inc[0] == 1 && ((inc[I + 1] == 1) && ...)) {
                            const std::tuple<const In*...> p{std::get<I>(src) + off[I + 1]...};
                            for (std::int64_t j = 0; j < len; ++j) d[j] = f(std::get<I>(p)[j]...);
                        } else {
                            for (std::int64_t j = 0; j < len; ++j)
                                d[j * inc[0]] = f(std::get<I>(src)[off[I + 1] + j * inc[I + 1]]...);
                        }
                    });
}

}  // namespace detail

// out (contiguous; its shape is the broadcast shape the inputs are expanded to) = f(in...).
template <class Out, class... In, class F>
void map(Tensor& out, F f, const std::array<const Tensor*, sizeof...(In)>& in) {
    detail::map_impl<Out, In...>(out, f, in, std::index_sequence_for<In...>{});
}

}  // namespace gs::kernels::cpu
