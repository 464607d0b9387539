// Flags: CLI11 options that remember how to print their resolved value.
#include "experiments/runner/flags.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tensor/error.h"

namespace gs::exp {

Flags::Flags(CLI::App& app) : app_(app) {
    app_.set_config("--config", "", "read flags from a TOML file (e.g. a run folder's config.toml)");
    app_.option_defaults()->always_capture_default();
}

CLI::Option* Flags::option(const std::string& name, std::vector<std::int64_t>& value, const std::string& help) {
    CLI::Option* o = app_.add_option(name, value, help)->delimiter(',')->capture_default_str();
    record(o, [&value] { return to_toml(value); });
    return o;
}

CLI::Option* Flags::flag(const std::string& name, bool& value, const std::string& help) {
    CLI::Option* o = app_.add_flag(name + ",!--no-" + name.substr(2), value, help);
    record(o, [&value] { return to_toml(value); });
    return o;
}

CLI::Option* Flags::runtime_flag(const std::string& name, bool& value, const std::string& help) {
    return app_.add_flag(name + ",!--no-" + name.substr(2), value, help)->configurable(false);
}

void Flags::record(CLI::Option* o, std::function<std::string()> dump) {
    entries_.push_back({o->get_single_name(), std::move(dump)});
}

bool Flags::given(const std::string& name) const { return app_.get_option(name)->count() > 0; }

std::string Flags::to_toml() const {
    std::ostringstream out;
    out << "# " << app_.get_name() << ": resolved configuration (load with --config)\n";
    for (const Entry& e : entries_) out << e.key << " = " << e.dump() << "\n";
    return out.str();
}

std::string Flags::to_toml(const std::string& v) {
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string Flags::to_toml(bool v) { return v ? "true" : "false"; }

std::string Flags::to_toml(double v) {
    GS_CHECK(std::isfinite(v), "config: a non-finite value cannot be written");
    // The shortest of %.15g / %.17g that reads back as the same double: "0.9", not 0.90000000000000002.
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
    std::string out = buf;
    // TOML needs a '.' or exponent to read a float as a float.
    if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
    return out;
}

std::string Flags::to_toml(std::int64_t v) { return std::to_string(v); }
std::string Flags::to_toml(std::uint64_t v) { return std::to_string(v); }

std::string Flags::to_toml(const std::vector<std::int64_t>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
    return out + "]";
}

std::string Flags::to_toml(const std::vector<double>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + to_toml(v[i]);
    return out + "]";
}

const CLI::Validator& non_negative() {
    static const CLI::Validator v(
        [](std::string& s) { return s.find('-') == std::string::npos ? std::string() : "must not be negative, got " + s; },
        "UINT");
    return v;
}

int parse_flags(CLI::App& app, int argc, const char* const* argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kUsageError;
    }
    return -1;
}

}  // namespace gs::exp
