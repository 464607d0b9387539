// Progress lines: a redrawn bar on terminals, periodic plain lines elsewhere.
#include "experiments/runner/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>

namespace gs::exp {

namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Progress::Progress(Mode mode, double interval_seconds, std::FILE* out) : mode_(mode), interval_(interval_seconds), out_(out) {
    if (mode_ == Mode::automatic) mode_ = ::isatty(::fileno(out_)) ? Mode::bar : Mode::plain;
}

Progress::~Progress() { finish(); }

std::string Progress::format_duration(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
    const long s = long(seconds + 0.5);
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

std::string Progress::format(const ProgressState& s) {
    char buf[256];
    std::string steps = std::to_string(s.step);
    if (s.total_steps > 0) {
        steps += '/';  // NOTE: not "/" + to_string(...), which trips a GCC 12 -Wrestrict false positive
        steps += std::to_string(s.total_steps);
    }
    std::snprintf(buf, sizeof buf, "epoch %lld/%lld  step %s  loss %.4f  acc %5.1f%%  %.0f ex/s  ETA %s",
                  (long long)(s.epoch + 1), (long long)s.epochs, steps.c_str(), s.loss, 100.0 * s.accuracy,
                  s.examples_per_second, s.eta_seconds < 0 ? "?" : format_duration(s.eta_seconds).c_str());
    return buf;
}

void Progress::update(const ProgressState& s) {
    if (mode_ == Mode::off) return;
    const double t = now_seconds();
    const double interval = mode_ == Mode::bar ? 0.2 : interval_;
    if (t - last_ < interval) return;
    last_ = t;
    if (mode_ == Mode::bar) {
        std::string bar;
        if (s.total_steps > 0) {
            const int width = 20;
            const int filled = int(double(width) * double(s.step) / double(s.total_steps));
            const int done = std::min(filled, width);
            bar.assign(std::size_t(width + 3), '.');
            bar[0] = '[';
            bar.replace(1, std::size_t(done), std::size_t(done), '#');
            bar[std::size_t(width + 1)] = ']';
            bar[std::size_t(width + 2)] = ' ';
        }
        std::fprintf(out_, "\r\033[K%s%s", bar.c_str(), format(s).c_str());
        bar_open_ = true;
    } else {
        std::fprintf(out_, "%s\n", format(s).c_str());
    }
    std::fflush(out_);
}

void Progress::line(const std::string& message) {
    if (mode_ == Mode::off) return;
    if (bar_open_) std::fprintf(out_, "\r\033[K");
    std::fprintf(out_, "%s\n", message.c_str());
    bar_open_ = false;
    last_ = -1e30;  // redraw the bar at the next update
    std::fflush(out_);
}

void Progress::finish() {
    if (bar_open_) {
        std::fprintf(out_, "\n");
        std::fflush(out_);
    }
    bar_open_ = false;
}

}  // namespace gs::exp
