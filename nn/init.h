#pragma once
// Weight initializers, driven by a gs::Generator so that a seed reproduces a model exactly. Each
// fills an existing contiguous f32/f64 tensor in place (initialization happens before any graph
// is recorded) and advances the generator.
#include <cstdint>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace gs::nn::init {

enum class FanMode { fan_in, fan_out };

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the receptive
// field is the product of dims 2.. (1 for a matrix). Needs dim >= 2.
std::int64_t fan_in(const Tensor& w);
std::int64_t fan_out(const Tensor& w);

// Gain for leaky_relu with negative slope a: sqrt(2 / (1 + a^2)) (a = 0 is ReLU's sqrt(2)).
double leaky_relu_gain(double a);

void zeros(Tensor& t);
void uniform(Tensor& t, Generator& gen, double low, double high);
void normal(Tensor& t, Generator& gen, double mean, double std);
// U(-b, b), b = gain * sqrt(3 / fan) with gain = leaky_relu_gain(a).
void kaiming_uniform(Tensor& t, Generator& gen, double a = 0.0, FanMode mode = FanMode::fan_in);
// N(0, gain / sqrt(fan)).
void kaiming_normal(Tensor& t, Generator& gen, double a = 0.0, FanMode mode = FanMode::fan_in);
// U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform(Tensor& t, Generator& gen, double gain = 1.0);
// N(0, gain * sqrt(2 / (fan_in + fan_out))).
void xavier_normal(Tensor& t, Generator& gen, double gain = 1.0);
// N(mean, std) restricted to [low, high] (absolute bounds, like torch.nn.init.trunc_normal_), by
// rejection: draws in rounds of numel normals and keeps accepted values in order, so the result
// depends only on the generator state.
void truncated_normal(Tensor& t, Generator& gen, double mean = 0.0, double std = 1.0, double low = -2.0,
                      double high = 2.0);

// PyTorch's default for Linear and Conv2d: weight kaiming_uniform(a = sqrt(5)) (= U(+-1/sqrt(fan_in))),
// bias (if defined) U(+-1/sqrt(fan_in)) with the weight's fan_in.
void pytorch_default(Tensor& weight, Tensor* bias, Generator& gen);

}  // namespace gs::nn::init
