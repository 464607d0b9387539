// Signal flag for graceful interruption.
#include "experiments/runner/interrupt.h"

#include <csignal>

namespace gs::exp {

namespace {

volatile std::sig_atomic_t g_signal = 0;
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
    g_signal = sig;
    // The next signal gets the default action (terminate) instead of waiting for the checkpoint.
    std::signal(sig, SIG_DFL);
}

}  // namespace

InterruptGuard::InterruptGuard() {
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
}

int interrupted() { return int(g_signal); }
void clear_interrupt() { g_signal = 0; }

}  // namespace gs::exp
