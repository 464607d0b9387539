#pragma once
// Figures are drawn by one plotting script (scripts/plot.py, matplotlib) from the files in a run
// folder, so a figure can be redrawn or restyled later without rerunning anything:
//   /usr/bin/python3 scripts/plot.py <kind> <run dir>   ->   <run dir>/figures/*.png
#include <filesystem>
#include <string>

#include "experiments/runner/progress.h"

namespace gs::exp {

// The plotting script: $GRADSCOPE_PLOT_SCRIPT if set, else scripts/plot.py of this source tree.
std::filesystem::path plot_script();

// Runs the script for `kind` on `run_dir`. Returns true when it drew the figures; otherwise reports
// why through `progress` (no python3, no matplotlib, a failure) and returns false: figures are a
// convenience, never a reason to lose a finished run.
bool draw_figures(const std::string& kind, const std::filesystem::path& run_dir, Progress& progress);

}  // namespace gs::exp
