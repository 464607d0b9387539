#pragma once
// Progress reports of a training loop: on a terminal, one status line redrawn in place (step,
// epoch, loss, accuracy, examples/s, ETA) at most a few times a second; otherwise (Slurm logs,
// pipes) a plain line every `interval_seconds`, so logs stay readable and short. Messages (epoch
// results, warnings) go through line(), which keeps the status line intact below them.
#include <cstdint>
#include <cstdio>
#include <string>

namespace gs::exp {

struct ProgressState {
    std::int64_t step = 0, total_steps = 0;  // total 0: unknown
    std::int64_t epoch = 0, epochs = 0;      // epoch is 0-based, shown 1-based
    double loss = 0, accuracy = 0;           // running averages of the current window
    double examples_per_second = 0;
    double eta_seconds = -1;                 // < 0: unknown
};

class Progress {
public:
    enum class Mode { automatic, bar, plain, off };
    // automatic: bar when `out` is a terminal, plain lines otherwise.
    explicit Progress(Mode mode = Mode::automatic, double interval_seconds = 30, std::FILE* out = stderr);
    ~Progress();

    void update(const ProgressState& s);   // rate-limited
    void line(const std::string& message);  // always printed, on its own line
    void finish();                          // ends the status line

    // "1:02:03" / "2:03" for a duration in seconds.
    static std::string format_duration(double seconds);
    // The status text without terminal control characters (what plain mode prints).
    static std::string format(const ProgressState& s);

private:
    Mode mode_;
    double interval_;
    std::FILE* out_;
    double last_ = -1e30;
    bool bar_open_ = false;
};

}  // namespace gs::exp
