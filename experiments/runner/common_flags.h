#pragma once
// The flags every experiment binary shares (run folder, resume, threads, device, progress, preset,
// seed) and the start-up they imply: where the run lives, whether it resumes, and the resolved
// config.toml. Each binary adds its own flags to the same Flags object.
#include <cstdint>
#include <filesystem>
#include <string>

#include "experiments/runner/classifier.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/progress.h"

namespace gs::exp {

struct CommonOptions {
    std::string run_dir;        // empty: runs/<program>-<UTC time>
    std::string resume;         // a run folder to continue
    std::string preset;         // "", quick, paper, ... (the binary says which it knows)
    std::string progress = "auto";  // auto, bar, plain, off
    bool plot = true;               // draw the figures with scripts/plot.py at the end
    RuntimeOptions runtime;
    std::uint64_t seed = 0;
};

// Adds --run-dir, --resume, --preset, --seed, --threads, --device, --deterministic, --tf32,
// --cudnn-benchmark, --progress and the testing flag --interrupt-after-steps, and --plot/--no-plot.
void add_common_flags(Flags& flags, CommonOptions& options, const std::string& presets_help);

// --dataset, --data-dir, --train-examples and --test-examples bound to `spec`: the data flags of
// every binary that trains classifiers.
void add_data_flags(Flags& flags, ClassifierSpec& spec);

// With --resume DIR, the run continues with DIR/config.toml: returns argv with "--config
// DIR/config.toml" added, after checking that only runtime flags (--threads, --device,
// --progress, --resume) are given besides. Without --resume, returns argv unchanged.
// Throws gs::Error naming a flag that cannot be combined with --resume.
std::vector<std::string> resume_arguments(int argc, const char* const* argv);

// Parses argv the way every experiment binary does: resume_arguments first, then parse_flags.
// Returns the exit code to stop with (0 after --help, kUsageError for a CLI11 error), or -1 to go on.
int parse_run_flags(CLI::App& app, int argc, const char* const* argv);

// "a,b,,c" -> {"a", "b", "c"}: the comma lists of flags such as --models.
std::vector<std::string> split_list(const std::string& s);

// After parsing: the run folder (given, resumed or a fresh default name), created, with the
// resolved config.toml written into it unless resuming. Also sets options.runtime.resume_folder to
// it, so that a sub-run of a multi-run binary (gs-randomization's model/setting folders, say),
// when interrupted, names the folder that --resume takes.
std::filesystem::path prepare_run_dir(const Flags& flags, CommonOptions& options, const std::string& program);

Progress::Mode progress_mode(const std::string& name);

// Runs `body` and maps its outcome to an exit code: 0, kUsageError after printing
// "<program>: error: <message>" for a gs::Error, 1 for anything else.
int run_main(const std::string& program, const std::function<int()>& body);

}  // namespace gs::exp
