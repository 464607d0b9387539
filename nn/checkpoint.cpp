// Checkpoints: model + optimizer + Dropout generators + run state in one safetensors file.
#include "nn/checkpoint.h"

#include <map>
#include <sstream>
#include <string>

#include "nn/layers.h"
#include "nn/safetensors.h"
#include "tensor/error.h"

namespace gs::nn {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Every Dropout in the tree by dotted module path ("" for the root itself), depth first.
void collect_dropouts(Module& m, const std::string& path, std::vector<std::pair<std::string, Dropout*>>* out) {
    if (auto* d = dynamic_cast<Dropout*>(&m)) out->emplace_back(path, d);
    for (const auto& [name, child] : m.named_children())
        collect_dropouts(*child, path.empty() ? name : path + "." + name, out);
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const Module& model, const Optimizer& optimizer,
                     const nlohmann::json& run) {
    const std::string where = "save_checkpoint: " + path.string() + ": ";
    NamedTensors tensors = model.state_dict();
    for (const auto& [name, t] : tensors)
        GS_CHECK(!starts_with(name, kOptimizerPrefix), where, "model entry '", name, "' starts with the reserved prefix '",
                 kOptimizerPrefix, "'");
    for (const auto& [name, t] : optimizer.state_tensors()) tensors.emplace_back(kOptimizerPrefix + name, t);

    nlohmann::json meta = nlohmann::json::object();
    meta["format"] = 1;
    nlohmann::json opt = {{"type", optimizer.type_name()}};
    for (const auto& [name, x] : optimizer.state_scalars()) opt[name] = x;
    meta["optimizer"] = opt;
    nlohmann::json gens = nlohmann::json::object();
    std::vector<std::pair<std::string, Dropout*>> dropouts;
    collect_dropouts(const_cast<Module&>(model), "", &dropouts);  // read only: generators are copied
    for (const auto& [name, d] : dropouts) {
        const Generator& g = d->generator();
        gens[name] = {{"seed", g.seed}, {"stream", g.stream}, {"offset", g.offset}};
    }
    meta["generators"] = gens;
    meta["run"] = run;
    save_safetensors(path, tensors, {{kCheckpointKey, meta.dump()}});
}

nlohmann::json load_checkpoint(const std::filesystem::path& path, Module& model, Optimizer& optimizer) {
    const std::string where = "load_checkpoint: " + path.string() + ": ";
    SafetensorsFile file = load_safetensors(path);
    auto it = file.metadata.find(kCheckpointKey);
    GS_CHECK(it != file.metadata.end(), where, "not a gradscope checkpoint (no \"", kCheckpointKey,
             "\" metadata); weights-only files load with load_safetensors + Module::load_state_dict");
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
        GS_FAIL(where, "the checkpoint metadata is not valid JSON (", e.what(), ")");
    }
    GS_CHECK(meta.is_object() && meta.value("format", 0) == 1, where, "unsupported checkpoint format ",
             meta.is_object() && meta.contains("format") ? meta["format"].dump() : std::string("(none)"),
             " (this build reads format 1)");

    // Split the tensors and check the model's part in full before anything is written.
    NamedTensors model_part, optim_part;
    for (auto& [name, t] : file.tensors) {
        if (starts_with(name, kOptimizerPrefix)) optim_part.emplace_back(name.substr(std::string(kOptimizerPrefix).size()), t);
        else model_part.emplace_back(name, t);
    }
    std::ostringstream problems;
    {
        std::map<std::string, const Tensor*> given;
        for (const auto& [n, t] : model_part) given[n] = &t;
        for (const auto& [n, t] : model.state_dict()) {
            auto g = given.find(n);
            if (g == given.end()) {
                problems << " missing " << n << ";";
                continue;
            }
            if (g->second->shape() != t.shape() || g->second->dtype() != t.dtype())
                problems << " mismatched " << n << " (file " << g->second->describe() << ", model " << t.describe() << ");";
            given.erase(g);
        }
        for (const auto& [n, t] : given) problems << " unexpected " << n << ";";
    }

    const nlohmann::json& opt = meta.value("optimizer", nlohmann::json::object());
    const std::string saved_type = opt.value("type", std::string("(none)"));
    if (saved_type != optimizer.type_name())
        problems << " optimizer type " << saved_type << " in the file, " << optimizer.type_name() << " given;";
    std::vector<std::pair<std::string, double>> scalars;
    for (const auto& [key, value] : opt.items()) {
        if (key == "type") continue;
        if (!value.is_number()) problems << " optimizer scalar " << key << " is not a number;";
        else scalars.emplace_back(key, value.get<double>());
    }

    std::vector<std::pair<std::string, Dropout*>> dropouts;
    collect_dropouts(model, "", &dropouts);
    const nlohmann::json gens = meta.value("generators", nlohmann::json::object());
    std::vector<std::pair<Dropout*, Generator>> restore;
    for (const auto& [name, d] : dropouts) {
        if (!gens.contains(name)) {
            problems << " no generator saved for Dropout '" << name << "';";
            continue;
        }
        const nlohmann::json& g = gens[name];
        if (!g.is_object() || !g.contains("seed") || !g.contains("stream") || !g.contains("offset") ||
            !g["seed"].is_number_unsigned() || !g["stream"].is_number_unsigned() || !g["offset"].is_number_unsigned()) {
            problems << " malformed generator for Dropout '" << name << "';";
            continue;
        }
        Generator gen(g["seed"].get<std::uint64_t>(), g["stream"].get<std::uint64_t>());
        gen.offset = g["offset"].get<std::uint64_t>();
        restore.emplace_back(d, gen);
    }
    if (gens.is_object() && gens.size() != restore.size() && problems.str().empty())
        problems << " the file has generators for Dropout modules the model lacks;";
    GS_CHECK(problems.str().empty(), where, "does not match the model and optimizer:", problems.str());

    // Optimizer first: its load_state validates everything before writing, so if it throws the
    // model has not been touched yet; the model's part was checked above and cannot fail.
    try {
        optimizer.load_state(optim_part, scalars);
    } catch (const Error& e) {
        GS_FAIL(where, e.what());
    }
    model.load_state_dict(model_part, true);
    for (auto& [d, gen] : restore) d->generator() = gen;
    return meta.value("run", nlohmann::json::object());
}

}  // namespace gs::nn
