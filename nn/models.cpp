// The Zhang et al. models (see models.h) and the summary printer.
#include "nn/models.h"

#include <iomanip>
#include <sstream>

#include "nn/init.h"
#include "tensor/error.h"
#include "tensor/shape.h"

namespace gs::nn {

namespace {

// Appends "," separators every three digits: 1649402 -> "1,649,402" (as the paper's Table 1).
std::string with_commas(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return n < 0 ? "-" + out : out;
}

// Conv module (k, C, s): conv kxk SAME (pad k/2 for odd k) -> [BN shift only] -> ReLU.
std::shared_ptr<Sequential> conv_module(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride,
                                        bool batch_norm, Generator& gen, DType dtype) {
    Conv2dOptions co;
    co.stride = stride;
    co.padding = k / 2;
    co.bias = !batch_norm;  // BN's shift replaces the bias; without BN the bias keeps the count
    co.dtype = dtype;
    auto m = std::make_shared<Sequential>();
    auto conv = std::make_shared<Conv2d>(in, out, k, gen, co);
    if (!batch_norm) {
        // Without BatchNorm to rescale them, the default init (weight variance 1/(3 fan_in), then
        // ReLU halves it) shrinks activations about 6x in variance per conv module, so the 12-deep
        // path of the no-BN Inception starts with vanishing outputs and gradients and stays at
        // loss ln 10 (measured: 120 steps at lr 0.1 did not move it). He-normal weights keep the
        // scale through ReLUs; the bias starts at zero.
        for (auto& [name, p] : conv->named_parameters()) {
            Tensor t = p.value();  // shares storage: the fill is in place
            if (name == "weight")
                init::kaiming_normal(t, gen);
            else
                init::zeros(t);
        }
    }
    m->push_back(conv);
    if (batch_norm) {
        BatchNormOptions bo;
        bo.affine = BatchNormAffine::shift;
        bo.dtype = dtype;
        m->push_back(std::make_shared<BatchNorm2d>(out, bo));
    }
    m->push_back(std::make_shared<ReLU>());
    return m;
}

}  // namespace

std::shared_ptr<Sequential> mlp(std::int64_t in_features, const std::vector<std::int64_t>& widths,
                                std::int64_t classes, Generator& gen, DType dtype) {
    GS_CHECK(in_features > 0 && classes > 0, "mlp: in_features and classes must be positive, got ",
             in_features, " and ", classes);
    auto net = std::make_shared<Sequential>();
    net->push_back(std::make_shared<Flatten>());
    std::int64_t prev = in_features;
    for (std::int64_t w : widths) {
        GS_CHECK(w > 0, "mlp: hidden widths must be positive, got ", w);
        net->push_back(std::make_shared<Linear>(prev, w, gen, true, dtype));
        net->push_back(std::make_shared<ReLU>());
        prev = w;
    }
    net->push_back(std::make_shared<Linear>(prev, classes, gen, true, dtype));
    return net;
}

std::shared_ptr<Sequential> alexnet_small(std::int64_t in_channels, std::int64_t classes, Generator& gen,
                                          DType dtype) {
    GS_CHECK(in_channels > 0 && classes > 0, "alexnet_small: in_channels and classes must be positive, got ",
             in_channels, " and ", classes);
    Conv2dOptions co;
    co.padding = 2;  // SAME for 5x5
    co.dtype = dtype;
    // TF tutorial LRN (depth_radius 4, alpha 0.001/9) in PyTorch's parametrization (alpha / size).
    auto lrn = [] { return std::make_shared<LocalResponseNorm>(9, 0.001, 0.75, 1.0); };
    // 3x3 stride 2 with pad 1 gives TF's SAME output size ceil(H / 2) for even H: 28 -> 14 -> 7.
    auto pool = [] { return std::make_shared<MaxPool2d>(3, 2, 1); };
    auto net = std::make_shared<Sequential>();
    net->push_back(std::make_shared<Conv2d>(in_channels, 64, 5, gen, co))  // (N, 64, 28, 28)
        .push_back(std::make_shared<ReLU>())
        .push_back(pool())  // (N, 64, 14, 14)
        .push_back(lrn())
        .push_back(std::make_shared<Conv2d>(64, 64, 5, gen, co))  // (N, 64, 14, 14)
        .push_back(std::make_shared<ReLU>())
        .push_back(lrn())
        .push_back(pool())  // (N, 64, 7, 7)
        .push_back(std::make_shared<Flatten>())  // (N, 3136)
        .push_back(std::make_shared<Linear>(7 * 7 * 64, 384, gen, true, dtype))
        .push_back(std::make_shared<ReLU>())
        .push_back(std::make_shared<Linear>(384, 192, gen, true, dtype))
        .push_back(std::make_shared<ReLU>())
        .push_back(std::make_shared<Linear>(192, classes, gen, true, dtype));
    return net;
}

std::shared_ptr<Sequential> inception_small(std::int64_t in_channels, std::int64_t classes, bool batch_norm,
                                            Generator& gen, DType dtype) {
    GS_CHECK(in_channels > 0 && classes > 0, "inception_small: in_channels and classes must be positive, got ",
             in_channels, " and ", classes);
    auto net = std::make_shared<Sequential>();
    std::int64_t c = in_channels;  // channels entering the next module
    auto inception = [&](std::int64_t ch1, std::int64_t ch3) {
        auto m = std::make_shared<Concat>();
        m->add(conv_module(c, ch1, 1, 1, batch_norm, gen, dtype));
        m->add(conv_module(c, ch3, 3, 1, batch_norm, gen, dtype));
        net->push_back(m);
        c = ch1 + ch3;
    };
    auto downsample = [&](std::int64_t ch3) {
        auto m = std::make_shared<Concat>();
        m->add(conv_module(c, ch3, 3, 2, batch_norm, gen, dtype));
        m->add(std::make_shared<MaxPool2d>(3, 2, 1));  // same (H+1)/2 output as the strided conv
        net->push_back(m);
        c = ch3 + c;
    };
    net->push_back(conv_module(c, 96, 3, 1, batch_norm, gen, dtype));  // 28x28x96
    c = 96;
    inception(32, 32);    // 28x28x64
    inception(32, 48);    // 28x28x80
    downsample(80);       // 14x14x160
    inception(112, 48);   // 14x14x160
    inception(96, 64);    // 14x14x160
    inception(80, 80);    // 14x14x160
    inception(48, 96);    // 14x14x144
    downsample(96);       // 7x7x240
    inception(176, 160);  // 7x7x336
    inception(176, 160);  // 7x7x336
    net->push_back(std::make_shared<GlobalAvgPool>());  // 336
    net->push_back(std::make_shared<Linear>(c, classes, gen, true, dtype));
    return net;
}

namespace {

// Pre-order list of a module and its descendants, with each one's own training flag.
void collect_modes(Module& m, std::vector<std::pair<Module*, bool>>* out) {
    out->emplace_back(&m, m.is_training());
    for (const auto& [name, child] : m.named_children()) collect_modes(*child, out);
}

}  // namespace

std::string model_summary(Module& model, const Shape& input_shape) {
    // train(flag) recurses, so restoring in pre-order lets each descendant override its parent.
    std::vector<std::pair<Module*, bool>> modes;
    collect_modes(model, &modes);
    // The probe input takes the parameters' dtype and device (a model moved to a GPU is run there).
    DType dtype = DType::f32;
    Device device = Device::cpu();
    const auto params = model.parameters();
    if (!params.empty()) dtype = params.front().value().dtype(), device = params.front().value().device();

    std::vector<std::pair<std::string, Module*>> rows;
    if (dynamic_cast<Sequential*>(&model) != nullptr) {
        for (const auto& [name, child] : model.named_children()) rows.emplace_back(name, child.get());
    } else {
        rows.emplace_back("0", &model);
    }

    std::ostringstream os;
    os << std::left << std::setw(6) << "#" << std::setw(20) << "Layer" << std::setw(22) << "Output shape"
       << std::right << std::setw(14) << "Params" << "\n";
    model.eval();
    try {
        autograd::NoGradGuard no_grad;
        autograd::Variable x(Tensor::zeros(input_shape, dtype, device));
        for (const auto& [name, m] : rows) {
            x = m->forward(x);
            os << std::left << std::setw(6) << name << std::setw(20) << m->type_name() << std::setw(22)
               << shape_str(x.shape()) << std::right << std::setw(14) << with_commas(m->num_parameters())
               << "\n";
        }
    } catch (...) {
        for (auto& [m, on] : modes) m->train(on);
        throw;
    }
    for (auto& [m, on] : modes) m->train(on);
    os << "Total params: " << with_commas(model.num_parameters()) << "\n";
    return os.str();
}

}  // namespace gs::nn
