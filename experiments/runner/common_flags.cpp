// Shared flags and start-up of the experiment binaries.
#include "experiments/runner/common_flags.h"

#include <iostream>
#include <set>

#include "experiments/runner/run_dir.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace gs::exp {

namespace fs = std::filesystem;

void add_common_flags(Flags& flags, CommonOptions& o, const std::string& presets_help) {
    flags.runtime_option("--run-dir", o.run_dir, "run folder (default: runs/<program>-<UTC time>)");
    flags.runtime_option("--resume", o.resume, "continue the interrupted run in this folder, with its config.toml");
    flags.option("--preset", o.preset, "preset: " + presets_help + " (flags given explicitly win)");
    flags.option("--seed", o.seed, "seed of initialization, data order, augmentation and randomization")
        ->check(non_negative());
    flags.runtime_option("--threads", o.runtime.threads, "OpenMP threads (0: all cores)")->check(CLI::NonNegativeNumber);
    flags.runtime_option("--device", o.runtime.device, "cpu, cuda or cuda:N");
    flags.runtime_flag("--deterministic", o.runtime.deterministic,
                       "deterministic algorithms only (cuDNN picks among deterministic ones; CPU kernels always are; recorded)");
    flags.runtime_flag("--tf32", o.runtime.tf32,
                       "let CUDA f32 matmuls and convolutions use TF32 tensor cores (10-bit mantissa products: faster, "
                       "less exact; no effect on the CPU; recorded)");
    flags.runtime_flag("--cudnn-benchmark", o.runtime.cudnn_benchmark,
                       "choose each cuDNN convolution algorithm by timing the candidates once per shape instead of by "
                       "cuDNN's heuristics (faster on some models, e.g. 1.2-1.7x on inception_small training on an "
                       "H100; the choice can differ between runs; no effect on the CPU; recorded)");
    flags.runtime_option("--progress", o.progress, "auto (a bar on terminals, lines otherwise), bar, plain, off")
        ->check(CLI::IsMember({"auto", "bar", "plain", "off"}));
    flags.runtime_flag("--plot", o.plot, "draw the figures into <run dir>/figures at the end (scripts/plot.py, matplotlib)");
    flags.runtime_option("--interrupt-after-steps", o.runtime.interrupt_after_steps,
                         "testing: send this process SIGINT after that many steps")
        ->check(CLI::NonNegativeNumber);
}

void add_data_flags(Flags& f, ClassifierSpec& s) {
    f.option("--dataset", s.dataset, "fashion-mnist, mnist, cifar10, cifar100 or imagenet");
    f.option("--data-dir", s.data_dir, "dataset folder (fashion-mnist defaults to Debian's copy)");
    f.option("--train-examples", s.train_examples, "use the first N training examples (0: all)")->check(CLI::NonNegativeNumber);
    f.option("--test-examples", s.test_examples, "use the first N test examples (0: all)")->check(CLI::NonNegativeNumber);
}

std::vector<std::string> resume_arguments(int argc, const char* const* argv) {
    std::vector<std::string> args(argv, argv + argc);
    std::string dir;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--resume" && i + 1 < argc) dir = argv[i + 1];
        else if (a.rfind("--resume=", 0) == 0) dir = a.substr(9);
    }
    if (dir.empty()) return args;
    const std::set<std::string> allowed{"--resume", "--threads", "--device", "--progress", "--plot", "--no-plot"};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--", 0) != 0) continue;
        const std::string name = a.substr(0, a.find('='));
        GS_CHECK(allowed.count(name), "--resume: ", name,
                 " cannot be combined with --resume (a resumed run keeps its own config.toml; only --threads, "
                 "--device, --progress and --[no-]plot may be given)");
    }
    const fs::path config = fs::path(dir) / "config.toml";
    GS_CHECK(fs::is_regular_file(config), "--resume: ", config.string(), " does not exist (not a run folder?)");
    args.push_back("--config");
    args.push_back(config.string());
    return args;
}

int parse_run_flags(CLI::App& app, int argc, const char* const* argv) {
    const std::vector<std::string> args = resume_arguments(argc, argv);
    std::vector<const char*> cargs;
    for (const auto& a : args) cargs.push_back(a.c_str());
    return parse_flags(app, int(cargs.size()), cargs.data());
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::string item;
    for (char c : s + ",") {
        if (c != ',') {
            item += c;
        } else if (!item.empty()) {
            out.push_back(item);
            item.clear();
        }
    }
    return out;
}

fs::path prepare_run_dir(const Flags& flags, CommonOptions& o, const std::string& program) {
    if (!o.resume.empty()) {
        GS_CHECK(o.run_dir.empty() || fs::path(o.run_dir) == fs::path(o.resume), "--run-dir cannot differ from --resume");
        o.runtime.resume_folder = o.resume;
        return o.resume;
    }
    fs::path dir = o.run_dir.empty() ? default_run_dir(program) : fs::path(o.run_dir);
    // A folder whose earlier start failed before training (bad data, say) may be reused; one with
    // a checkpoint or summary anywhere in it holds results and is never overwritten.
    if (fs::is_directory(dir)) {
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            const std::string name = e.path().filename().string();
            GS_CHECK(name != "checkpoint.safetensors" && name != "summary.json", "--run-dir ", dir.string(),
                     ": already holds a run (", e.path().string(), "); continue it with --resume ", dir.string(),
                     " or choose another folder");
        }
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    GS_CHECK(!ec && fs::is_directory(dir), "--run-dir ", dir.string(), ": cannot create the folder (", ec.message(), ")");
    write_file_atomic(dir / "config.toml", flags.to_toml());
    o.runtime.resume_folder = dir.string();
    return dir;
}

Progress::Mode progress_mode(const std::string& name) {
    if (name == "bar") return Progress::Mode::bar;
    if (name == "plain") return Progress::Mode::plain;
    if (name == "off") return Progress::Mode::off;
    return Progress::Mode::automatic;
}

int run_main(const std::string& program, const std::function<int()>& body) {
    try {
        return body();
    } catch (const Error& e) {
        std::cerr << program << ": error: " << e.what() << "\n";
        return kUsageError;
    } catch (const std::exception& e) {
        std::cerr << program << ": internal error: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace gs::exp
