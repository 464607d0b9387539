#pragma once
// SIGINT/SIGTERM handling for training loops: the handler only records the signal; the loop checks
// interrupted() after each step, saves a checkpoint and returns, so no state is ever written from
// inside a signal handler. A second signal while the first is being handled ends the process at
// once (the default action), for a user who does not want to wait for the checkpoint.
namespace gs::exp {

// Installs the handlers for its lifetime and restores the previous ones after.
class InterruptGuard {
public:
    InterruptGuard();
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
};

// The signal received since the guard was installed (SIGINT or SIGTERM), or 0.
int interrupted();
// Clears the record (a new run in the same process).
void clear_interrupt();

// The conventional exit code for a run ended by `signal`: 128 + signal.
inline int exit_code_for_signal(int signal) { return 128 + signal; }

}  // namespace gs::exp
