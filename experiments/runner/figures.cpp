// Running the plotting script.
#include "experiments/runner/figures.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

namespace gs::exp {

namespace fs = std::filesystem;

fs::path plot_script() {
    if (const char* env = std::getenv("GRADSCOPE_PLOT_SCRIPT"); env && *env) return env;
    return fs::path(GRADSCOPE_SOURCE_DIR) / "scripts" / "plot.py";
}

namespace {

// Single-quoted for /bin/sh.
std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

bool draw_figures(const std::string& kind, const fs::path& run_dir, Progress& progress) {
    const fs::path script = plot_script();
    if (!fs::exists(script)) {
        progress.line("figures skipped: " + script.string() + " not found (set GRADSCOPE_PLOT_SCRIPT)");
        return false;
    }
    // Debian's python3 has matplotlib (python3-matplotlib); a pyenv python3 earlier on PATH may not.
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const std::string cmd = python + " " + quoted(script.string()) + " " + quoted(kind) + " " + quoted(run_dir.string()) + " 2>&1";
    std::FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) {
        progress.line("figures skipped: cannot start " + python);
        return false;
    }
    std::string output;
    char buf[512];
    while (std::fgets(buf, sizeof buf, pipe)) output += buf;
    const int status = ::pclose(pipe);
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    while (!output.empty() && output.back() == '\n') output.pop_back();
    if (rc == 0) {
        if (!output.empty()) progress.line(output);
        return true;
    }
    progress.line("figures skipped (" + script.string() + " exited with " + std::to_string(rc) + "): " + output);
    return false;
}

}  // namespace gs::exp
