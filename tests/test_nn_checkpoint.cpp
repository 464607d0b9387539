// Training checkpoints: a saved and reloaded run continues bit for bit like the uninterrupted one
// (weights, optimizer moments, Dropout draws), and bad files or mismatched models are rejected by
// name without touching the model.
#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <string>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "nn/checkpoint.h"
#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace gs;
using autograd::Variable;
using test::TempDir;

namespace {

// Linear -> ReLU -> Dropout -> Linear: parameters, and a generator that advances every step.
std::shared_ptr<nn::Sequential> make_net(std::uint64_t init_seed, std::int64_t hidden = 16) {
    Generator gen(init_seed, 1);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(5, hidden, gen))
        .push_back(std::make_shared<nn::ReLU>())
        .push_back(std::make_shared<nn::Dropout>(0.3, Generator(99, 5)))
        .push_back(std::make_shared<nn::Linear>(hidden, 3, gen));
    return net;
}

// One SGD/Adam step on a fixed batch that depends on `t`.
void train_step(nn::Sequential& net, nn::Optimizer& opt, int t) {
    const Tensor x = test::randn<float>({8, 5}, 1000 + std::uint64_t(t));
    const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 0, 1, 2, 0, 1});
    Variable loss = autograd::mean(autograd::cross_entropy(net(Variable(x)), y));
    opt.zero_grad();
    loss.backward();
    opt.step();
}

bool same_weights(const nn::Module& a, const nn::Module& b) {
    const auto sa = a.state_dict(), sb = b.state_dict();
    if (sa.size() != sb.size()) return false;
    for (std::size_t i = 0; i < sa.size(); ++i)
        if (sa[i].first != sb[i].first || test::max_abs_diff(sa[i].second, sb[i].second) != 0.0) return false;
    return true;
}

template <class Opt, class Options>
void check_resume_is_exact(Options options) {
    TempDir dir;
    auto straight = make_net(1);
    Opt opt_straight(straight->named_parameters(), options);
    for (int t = 0; t < 6; ++t) train_step(*straight, opt_straight, t);

    auto first = make_net(1);
    Opt opt_first(first->named_parameters(), options);
    for (int t = 0; t < 3; ++t) train_step(*first, opt_first, t);
    nn::save_checkpoint(dir / "ck.safetensors", *first, opt_first, {{"epoch", 0}, {"batch", 3}});

    auto resumed = make_net(2);  // another initialization: everything must come from the file
    Opt opt_resumed(resumed->named_parameters(), options);
    const nlohmann::json run = nn::load_checkpoint(dir / "ck.safetensors", *resumed, opt_resumed);
    CHECK(run["batch"] == 3);
    CHECK(opt_resumed.steps() == 3);
    for (int t = 3; t < 6; ++t) train_step(*resumed, opt_resumed, t);
    CHECK(same_weights(*straight, *resumed));
}

}  // namespace

TEST_CASE("checkpoint: SGD with momentum resumes bit for bit") {
    nn::SgdOptions o;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weight_decay = 1e-3;
    check_resume_is_exact<nn::SGD>(o);
}

TEST_CASE("checkpoint: Adam resumes bit for bit") {
    nn::AdamOptions o;
    o.lr = 0.01;
    check_resume_is_exact<nn::Adam>(o);
}

TEST_CASE("checkpoint: the Dropout generator offset is saved") {
    // Without the saved offset the resumed run would redraw the masks of steps 0-2.
    TempDir dir;
    auto net = make_net(1);
    nn::SGD opt(net->named_parameters(), {});
    for (int t = 0; t < 2; ++t) train_step(*net, opt, t);
    nn::save_checkpoint(dir / "ck.safetensors", *net, opt);
    auto fresh = make_net(1);
    nn::SGD opt2(fresh->named_parameters(), {});
    nn::load_checkpoint(dir / "ck.safetensors", *fresh, opt2);
    auto& d1 = dynamic_cast<nn::Dropout&>(*(*net)[2]);
    auto& d2 = dynamic_cast<nn::Dropout&>(*(*fresh)[2]);
    CHECK(d1.generator().offset > 0);
    CHECK(d2.generator() == d1.generator());
}

TEST_CASE("checkpoint: weights load by their PyTorch names and optimizer state is prefixed") {
    TempDir dir;
    auto net = make_net(1);
    nn::SgdOptions o;
    o.momentum = 0.9;
    nn::SGD opt(net->named_parameters(), o);
    train_step(*net, opt, 0);
    nn::save_checkpoint(dir / "ck.safetensors", *net, opt);
    const nn::SafetensorsFile f = nn::load_safetensors(dir / "ck.safetensors");
    std::vector<std::string> names;
    for (const auto& [n, t] : f.tensors) names.push_back(n);
    CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "3.weight", "3.bias", "optimizer.0.weight.momentum_buffer",
                                            "optimizer.0.bias.momentum_buffer", "optimizer.3.weight.momentum_buffer",
                                            "optimizer.3.bias.momentum_buffer"});
    CHECK(f.metadata.count(nn::kCheckpointKey) == 1);
}

TEST_CASE("checkpoint: mismatches are named and leave model and optimizer untouched") {
    TempDir dir;
    auto net = make_net(1);
    nn::SGD opt(net->named_parameters(), {});
    nn::save_checkpoint(dir / "ck.safetensors", *net, opt);

    auto wider = make_net(3, 17);
    nn::SGD opt_wider(wider->named_parameters(), {});
    auto before = make_net(3, 17);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir / "ck.safetensors", *wider, opt_wider),
                         doctest::Contains("mismatched 0.weight (file"), Error);
    CHECK(same_weights(*wider, *before));

    auto same = make_net(4);
    nn::Adam adam(same->named_parameters(), {});
    auto same_before = make_net(4);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir / "ck.safetensors", *same, adam),
                         doctest::Contains("optimizer type SGD in the file, Adam given"), Error);
    CHECK(same_weights(*same, *same_before));
    CHECK(adam.steps() == 0);

    // A model without the Dropout: its generator entry is unexpected.
    Generator g(1, 1);
    auto plain = std::make_shared<nn::Sequential>();
    plain->push_back(std::make_shared<nn::Linear>(5, 16, g)).push_back(std::make_shared<nn::ReLU>())
        .push_back(std::make_shared<nn::ReLU>()).push_back(std::make_shared<nn::Linear>(16, 3, g));
    nn::SGD opt_plain(plain->named_parameters(), {});
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(dir / "ck.safetensors", *plain, opt_plain),
                         doctest::Contains("generators for Dropout modules the model lacks"), Error);
}

TEST_CASE("checkpoint: corrupt or truncated or foreign files are rejected by name") {
    TempDir dir;
    auto net = make_net(1);
    nn::SGD opt(net->named_parameters(), {});
    const auto path = dir / "ck.safetensors";
    nn::save_checkpoint(path, *net, opt);
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto write = [&](const std::string& b) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(b.data(), std::streamsize(b.size()));
    };
    write(bytes.substr(0, bytes.size() - 10));
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, *net, opt), doctest::Contains(path.string().c_str()), Error);
    std::string flipped = bytes;
    flipped[flipped.size() - 5] ^= 0x20;  // inside the last tensor's data: the CRC catches it
    write(flipped);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, *net, opt), doctest::Contains("CRC32"), Error);

    nn::save_safetensors(path, net->state_dict());
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(path, *net, opt), doctest::Contains("not a gradscope checkpoint"), Error);
}
