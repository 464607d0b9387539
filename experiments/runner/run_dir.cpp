// Run-folder files: JSON written atomically, metrics appended line by line.
#include "experiments/runner/run_dir.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <vector>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace gs::exp {

namespace fs = std::filesystem;

fs::path default_run_dir(std::string_view prefix) {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    const fs::path base = fs::path("runs") / (std::string(prefix) + "-" + stamp);
    fs::path dir = base;
    for (int i = 2; fs::exists(dir); ++i) dir = base.string() + "-" + std::to_string(i);
    return dir;
}

void write_json_atomic(const fs::path& path, const nlohmann::json& value) {
    write_file_atomic(path, value.dump(2) + "\n");
}

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    GS_CHECK(in, path.string(), ": cannot open (", std::strerror(errno), ")");
    std::stringstream text;
    text << in.rdbuf();
    try {
        return nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::exception& e) {
        GS_FAIL(path.string(), ": not valid JSON (", e.what(), ")");
    }
}

namespace {

// The complete lines of a metrics file ('\n'-terminated); a torn tail is left out.
std::vector<std::string> complete_lines(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    GS_CHECK(in, path.string(), ": cannot open (", std::strerror(errno), ")");
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
        lines.push_back(text.substr(start, nl - start));
    return lines;
}

nlohmann::json parse_line(const fs::path& path, std::size_t index, const std::string& line) {
    try {
        nlohmann::json j = nlohmann::json::parse(line);
        GS_CHECK(j.is_object(), path.string(), ": line ", index + 1, " is not a JSON object");
        return j;
    } catch (const nlohmann::json::exception& e) {
        GS_FAIL(path.string(), ": line ", index + 1, " is not valid JSON (", e.what(), ")");
    }
}

}  // namespace

MetricsLog MetricsLog::create(const fs::path& path) {
    MetricsLog log;
    log.path_ = path;
    log.file_ = std::fopen(path.c_str(), "wb");
    GS_CHECK(log.file_, path.string(), ": cannot create (", std::strerror(errno), ")");
    return log;
}

MetricsLog MetricsLog::resume(const fs::path& path, std::int64_t keep_through_step) {
    std::string kept;
    if (fs::exists(path)) {
        const std::vector<std::string> lines = complete_lines(path);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const nlohmann::json j = parse_line(path, i, lines[i]);
            GS_CHECK(j.contains("step") && j["step"].is_number_integer(), path.string(), ": line ", i + 1,
                     " has no integer \"step\"");
            if (j["step"].get<std::int64_t>() <= keep_through_step) kept += lines[i] + "\n";
        }
    }
    // Rewritten atomically: a crash here leaves the old log, which the next resume trims again.
    write_file_atomic(path, kept);
    MetricsLog log;
    log.path_ = path;
    log.file_ = std::fopen(path.c_str(), "ab");
    GS_CHECK(log.file_, path.string(), ": cannot open for appending (", std::strerror(errno), ")");
    return log;
}

MetricsLog::~MetricsLog() {
    if (file_) std::fclose(file_);
}

MetricsLog::MetricsLog(MetricsLog&& other) noexcept : path_(std::move(other.path_)), file_(other.file_) {
    other.file_ = nullptr;
}

MetricsLog& MetricsLog::operator=(MetricsLog&& other) noexcept {
    if (this != &other) {
        if (file_) std::fclose(file_);
        path_ = std::move(other.path_);
        file_ = other.file_;
        other.file_ = nullptr;
    }
    return *this;
}

void MetricsLog::append(const nlohmann::json& record) {
    GS_CHECK(file_, "MetricsLog::append: the log is not open");
    GS_CHECK(record.is_object(), path_.string(), ": a metrics record must be a JSON object");
    const std::string line = record.dump() + "\n";
    const bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
    GS_CHECK(ok, path_.string(), ": cannot append (", std::strerror(errno), ")");
}

std::vector<nlohmann::json> read_metrics(const fs::path& path) {
    std::vector<nlohmann::json> out;
    const std::vector<std::string> lines = complete_lines(path);
    for (std::size_t i = 0; i < lines.size(); ++i) out.push_back(parse_line(path, i, lines[i]));
    return out;
}

}  // namespace gs::exp
