// Writing a long contiguous run around the caches in whole cache lines.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gs::kernels::cpu {

// Appends values to out[0, n) in order and sends every whole 64-byte line of it to memory with
// non-temporal stores. A per-example gradient matrix is far larger than the caches and is not read
// back by its writer, so non-temporal stores spare the read-for-ownership of each line (about
// half the write's memory traffic) - but only for lines written whole by them. A line that mixes
// ordinary and non-temporal stores, or that is streamed in two parts, costs far more than it
// saves: a Linear weight gradient written row by row (rows of F values at an arbitrary offset in
// the (B, P) output) split two lines per row, and ran at 18 GB/s against 28 GB/s for the same
// bytes in whole lines. So the values are staged in a small buffer laid out like the destination
// lines, which go out once complete; only the partial lines at the two ends of the run get
// ordinary stores. The caller fences (store_fence) before the stores must be visible elsewhere.
template <class T>
class LineStream {
public:
    LineStream(T* out, std::int64_t n) : out_(out) {
        // Ordinary stores up to the first line boundary, and for a run too short for a whole line.
        const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(out);
        const std::int64_t to_line = std::int64_t((kLineBytes - a % kLineBytes) % kLineBytes) / std::int64_t(sizeof(T));
        direct_ = (a % sizeof(T) != 0 || n < to_line + kLine) ? n : to_line;
    }
    LineStream(const LineStream&) = delete;
    LineStream& operator=(const LineStream&) = delete;
    ~LineStream() { finish(); }

    // Appends s * a[0, m).
    void put_scaled(const T* a, T s, std::int64_t m) {
        for (; m > 0 && direct_ > 0; --m, --direct_) *out_++ = s * *a++;
        while (m > 0) {
            const std::int64_t take = m < kStage - staged_ ? m : kStage - staged_;
            T* st = stage_ + staged_;
#pragma omp simd
            for (std::int64_t f = 0; f < take; ++f) st[f] = s * a[f];
            staged_ += take;
            a += take;
            m -= take;
            if (staged_ == kStage) flush_lines();
        }
    }

    // Writes what is still staged (whole lines streamed, the last partial line with ordinary
    // stores). The destructor calls it; calling it twice is harmless.
    void finish() {
        flush_lines();
        for (std::int64_t f = 0; f < staged_; ++f) out_[f] = stage_[f];
        out_ += staged_;
        staged_ = 0;
    }

private:
    static constexpr std::int64_t kLineBytes = 64;
    static constexpr std::int64_t kLine = kLineBytes / std::int64_t(sizeof(T));
    static constexpr std::int64_t kStage = 64 * kLine;  // 4 KiB: stays in L1

    // Streams the whole lines staged so far, keeps the rest at the front of the stage. out_ is
    // line-aligned here: the direct stores ran up to a line boundary.
    void flush_lines() {
        const std::int64_t whole = staged_ / kLine * kLine;
        std::int64_t f = 0;
#if defined(__SSE2__)
        if constexpr (std::is_same_v<T, float>) {
            for (; f < whole; f += 4) _mm_stream_ps(out_ + f, _mm_load_ps(stage_ + f));
        } else if constexpr (std::is_same_v<T, double>) {
            for (; f < whole; f += 2) _mm_stream_pd(out_ + f, _mm_load_pd(stage_ + f));
        }
#endif
        for (; f < whole; ++f) out_[f] = stage_[f];
        out_ += whole;
        for (std::int64_t g = whole; g < staged_; ++g) stage_[g - whole] = stage_[g];
        staged_ -= whole;
    }

    T* out_;
    std::int64_t direct_ = 0;  // values still to be stored directly before the first line boundary
    std::int64_t staged_ = 0;
    alignas(64) T stage_[kStage];
};

// Orders this thread's non-temporal stores before its later stores (and the barrier that follows).
inline void store_fence() {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

}  // namespace gs::kernels::cpu
