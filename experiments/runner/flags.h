#pragma once
// Flags for the experiment binaries: CLI11 options bound to plain variables, with real booleans
// (--x / --no-x), a --config FILE (TOML, the format the run folder's config.toml is written in),
// presets that fill in whatever neither the command line nor the config file set, and the
// resolved values written back as TOML so a run can be repeated or resumed from its folder.
//
// Precedence, highest first: command line, --config file, --preset, built-in default.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gs::exp {

// Exit code of every experiment binary for bad flags, bad input and unusable data.
inline constexpr int kUsageError = 2;

class Flags {
public:
    explicit Flags(CLI::App& app);

    CLI::App& app() { return app_; }

    // An option whose resolved value goes into config.toml. T: std::string, bool (use flag()),
    // integers, double, or std::vector<std::int64_t> (comma separated on the command line).
    template <class T>
    CLI::Option* option(const std::string& name, T& value, const std::string& help) {
        CLI::Option* o = app_.add_option(name, value, help)->capture_default_str();
        record(o, [&value] { return to_toml(value); });
        return o;
    }
    CLI::Option* option(const std::string& name, std::vector<std::int64_t>& value, const std::string& help);
    // A boolean as a pair: "--name" sets it, "--no-name" clears it.
    CLI::Option* flag(const std::string& name, bool& value, const std::string& help);
    // An option that is not part of the experiment's configuration (run folder, resume, threads):
    // never written to config.toml and never read from a config file.
    template <class T>
    CLI::Option* runtime_option(const std::string& name, T& value, const std::string& help) {
        return app_.add_option(name, value, help)->configurable(false);
    }
    CLI::Option* runtime_flag(const std::string& name, bool& value, const std::string& help);

    // Whether the command line or the config file set the option called `name` ("--lr").
    bool given(const std::string& name) const;
    // Sets `value` to `preset` unless the option `name` was given: how presets fill in defaults.
    template <class T>
    void preset(const std::string& name, T& value, const T& preset) {
        if (!given(name)) value = preset;
    }

    // The resolved configuration: one "key = value" TOML line per configurable option, in the
    // order they were added, preceded by a comment line naming the program.
    std::string to_toml() const;

    static std::string to_toml(const std::string& v);
    static std::string to_toml(bool v);
    static std::string to_toml(double v);
    static std::string to_toml(std::int64_t v);
    static std::string to_toml(int v) { return to_toml(std::int64_t(v)); }
    static std::string to_toml(std::uint64_t v);
    static std::string to_toml(const std::vector<std::int64_t>& v);
    static std::string to_toml(const std::vector<double>& v);

private:
    void record(CLI::Option* o, std::function<std::string()> dump);

    CLI::App& app_;
    struct Entry {
        std::string key;  // the long name without dashes, as CLI11 reads it from a config file
        std::function<std::string()> dump;
    };
    std::vector<Entry> entries_;
};

// A CLI11 check that rejects a leading '-' ("must not be negative, got -1"): CLI11 would otherwise
// wrap -1 into 2^64 - 1 for unsigned options.
const CLI::Validator& non_negative();

// Parses argv; on a CLI11 error prints CLI11's message (naming the flag) and returns the exit code
// to use (0 for --help, kUsageError otherwise); returns -1 when parsing succeeded.
int parse_flags(CLI::App& app, int argc, const char* const* argv);

}  // namespace gs::exp
