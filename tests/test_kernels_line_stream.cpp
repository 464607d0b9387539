// LineStream: values appended in pieces land in order, whatever the run's alignment, length and
// piece sizes, and nothing outside the run is touched.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/line_stream_cpu.h"

using gs::kernels::cpu::LineStream;
using gs::kernels::cpu::store_fence;

TEST_CASE_TEMPLATE("LineStream writes s * a in order at every alignment and length and piece size", T, float, double) {
    using i64 = std::int64_t;
    constexpr i64 kLine = 64 / sizeof(T);
    // Lengths around one line and around the 4 KiB stage, pieces from single values to more than a stage.
    const i64 lengths[] = {0, 1, kLine - 1, kLine, kLine + 1, 3 * kLine + 5, 4096 / i64(sizeof(T)) + 7, 10'007};
    const i64 pieces[] = {1, 7, kLine, 784, 5'000};
    const T sentinel = T(-12345);
    i64 wrong = 0, cases = 0;
    for (i64 n : lengths)
        for (i64 piece : pieces)
            for (i64 offset = 0; offset <= kLine; ++offset) {
                // The run's start and end fall at every position within a line (the buffer is 64-byte aligned).
                std::vector<T> a(static_cast<std::size_t>(piece));
                for (i64 f = 0; f < piece; ++f) a[std::size_t(f)] = T(1 + f % 97) / T(8);
                alignas(64) static T buf[10'007 + 3 * 16];
                const i64 size = n + 2 * kLine + kLine;
                for (i64 f = 0; f < size; ++f) buf[f] = sentinel;
                T* out = buf + kLine + offset;
                {
                    LineStream<T> ls(out, n);
                    for (i64 done = 0, k = 0; done < n; ++k) {
                        const i64 m = std::min(piece, n - done);
                        ls.put_scaled(a.data(), T(k + 1), m);
                        done += m;
                    }
                }
                store_fence();
                for (i64 f = 0; f < size; ++f) {
                    const T* p = buf + f;
                    T want = sentinel;
                    if (p >= out && p < out + n) {
                        const i64 j = p - out;
                        want = T(j / piece + 1) * a[std::size_t(j % piece)];
                    }
                    wrong += buf[f] != want;
                }
                ++cases;
            }
    CHECK(cases == 8 * 5 * (kLine + 1));
    CHECK(wrong == 0);
}
