#pragma once
// The run directory every experiment writes: config, metrics as JSON Lines, a summary, checkpoints,
// figures and a report, all in one folder so a run can be inspected, plotted and resumed from it.
//
//   <run dir>/config.toml        the resolved flags (loadable with --config)
//   <run dir>/metrics.jsonl      one JSON object per line: step, epoch, wall time, values
//   <run dir>/summary.json       final and best values (written atomically, rewritten as it goes)
//   <run dir>/checkpoint.safetensors   the latest training state
//   <run dir>/<part>/...         experiments with several trainings give each its own sub-folder
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace gs::exp {

// A default run folder name: runs/<prefix>-YYYYmmdd-HHMMSS (UTC), made unique with -2, -3, ...
std::filesystem::path default_run_dir(std::string_view prefix);

// Writes `value` to `path` atomically as pretty JSON (2-space indent, trailing newline).
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& value);
// Reads a JSON file; throws gs::Error naming the file when it is missing or not valid JSON.
nlohmann::json read_json(const std::filesystem::path& path);

// metrics.jsonl, appended one line per record and flushed, so a crash loses at most the line being
// written. Opening it for a resumed run keeps only the complete lines whose "step" is at most
// `keep_through_step` (the step of the checkpoint being resumed) and drops the rest, so the file of
// a resumed run ends up identical, line for line (wall times aside), to an uninterrupted run's.
class MetricsLog {
public:
    MetricsLog() = default;
    // Starts a new, empty log at `path` (replacing any file there).
    static MetricsLog create(const std::filesystem::path& path);
    // Reopens the log of an interrupted run, truncated as described above.
    static MetricsLog resume(const std::filesystem::path& path, std::int64_t keep_through_step);
    ~MetricsLog();
    MetricsLog(MetricsLog&& other) noexcept;
    MetricsLog& operator=(MetricsLog&& other) noexcept;
    MetricsLog(const MetricsLog&) = delete;
    MetricsLog& operator=(const MetricsLog&) = delete;

    // Appends `record` as one line (it must be a JSON object).
    void append(const nlohmann::json& record);
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    std::FILE* file_ = nullptr;
};

// Every record of a metrics file, in order. Throws naming the file and line of a malformed line
// (a torn last line, without its newline, is skipped: it is what a crash mid-append leaves).
std::vector<nlohmann::json> read_metrics(const std::filesystem::path& path);

}  // namespace gs::exp
