#pragma once
// Learning-rate schedules as pure functions of (epoch, step within the epoch): no hidden state, so
// resuming from a checkpoint at any (epoch, step) gives exactly the rate the uninterrupted run had.
#include <cstdint>

namespace gs::nn {

struct LrSchedule {
    enum class Kind { constant, step, exponential, cosine };
    Kind kind = Kind::constant;
    double base_lr = 0.01;
    // step: lr = base * gamma^(epoch / step_epochs) (integer division). exponential: base * gamma^epoch
    // (Zhang et al.: gamma = 0.95).
    double gamma = 0.1;
    std::int64_t step_epochs = 1;
    // cosine: lr = floor + (base - floor) (1 + cos(pi t / T)) / 2 with t = epoch + step / steps_per_epoch
    // (t = epoch when steps_per_epoch is 0), clamped to T: the floor from epoch T on.
    std::int64_t total_epochs = 1;
    double floor = 0;
    std::int64_t steps_per_epoch = 0;

    static LrSchedule constant(double lr);
    static LrSchedule step_decay(double lr, std::int64_t every, double gamma);
    static LrSchedule exponential(double lr, double gamma);
    static LrSchedule cosine(double lr, std::int64_t total_epochs, double floor = 0, std::int64_t steps_per_epoch = 0);

    // The rate for step `step` (0-based) of epoch `epoch` (0-based).
    double lr(std::int64_t epoch, std::int64_t step = 0) const;
};

}  // namespace gs::nn
