#include "nn/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "tensor/error.h"

namespace gs::nn {

LrSchedule LrSchedule::constant(double lr) {
    LrSchedule s;
    s.kind = Kind::constant;
    s.base_lr = lr;
    return s;
}

LrSchedule LrSchedule::step_decay(double lr, std::int64_t every, double gamma) {
    GS_CHECK(every > 0, "LrSchedule::step_decay: every must be positive, got ", every);
    LrSchedule s;
    s.kind = Kind::step;
    s.base_lr = lr;
    s.step_epochs = every;
    s.gamma = gamma;
    return s;
}

LrSchedule LrSchedule::exponential(double lr, double gamma) {
    LrSchedule s;
    s.kind = Kind::exponential;
    s.base_lr = lr;
    s.gamma = gamma;
    return s;
}

LrSchedule LrSchedule::cosine(double lr, std::int64_t total_epochs, double floor, std::int64_t steps_per_epoch) {
    GS_CHECK(total_epochs > 0 && steps_per_epoch >= 0, "LrSchedule::cosine: total_epochs=", total_epochs,
             " steps_per_epoch=", steps_per_epoch);
    LrSchedule s;
    s.kind = Kind::cosine;
    s.base_lr = lr;
    s.total_epochs = total_epochs;
    s.floor = floor;
    s.steps_per_epoch = steps_per_epoch;
    return s;
}

double LrSchedule::lr(std::int64_t epoch, std::int64_t step) const {
    GS_CHECK(epoch >= 0 && step >= 0, "LrSchedule::lr: negative epoch ", epoch, " or step ", step);
    switch (kind) {
        case Kind::constant: return base_lr;
        case Kind::step:
            GS_CHECK(step_epochs > 0, "LrSchedule: step_epochs must be positive");
            return base_lr * std::pow(gamma, double(epoch / step_epochs));
        case Kind::exponential: return base_lr * std::pow(gamma, double(epoch));
        case Kind::cosine: {
            GS_CHECK(total_epochs > 0, "LrSchedule: total_epochs must be positive");
            double t = double(epoch) + (steps_per_epoch > 0 ? double(step) / double(steps_per_epoch) : 0.0);
            t = std::min(t, double(total_epochs));
            return floor + (base_lr - floor) * (1 + std::cos(std::numbers::pi * t / double(total_epochs))) / 2;
        }
    }
    GS_FAIL("LrSchedule: unknown kind");
}

}  // namespace gs::nn
