#pragma once
// The models of Zhang et al., "Understanding deep learning requires rethinking generalization"
// (Appendix A), built from the standard layers. Specs and the arithmetic behind the parameter
// counts are in /work/shared/papers.md, section 1.2. Every builder returns a plain Sequential, so
// state dicts name layers "0", "1.0.weight", ... as torch.nn.Sequential would.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace gs::nn {

// Flatten, then Linear(prev, w) + ReLU for each w in widths, then Linear(prev, classes); all with
// biases. x: (N, ...) with in_features elements per example -> (N, classes).
// MLP 1x512 on 28x28x3 (in_features 2352, widths {512}): 1,209,866 parameters; 3x512: 1,735,178.
std::shared_ptr<Sequential> mlp(std::int64_t in_features, const std::vector<std::int64_t>& widths,
                                std::int64_t classes, Generator& gen, DType dtype = DType::f32);

// Small AlexNet for 28x28 inputs (the TensorFlow CIFAR-10 tutorial model on 28x28 crops):
//   conv 5x5 64 SAME + bias -> ReLU -> max-pool 3x3/2 (pad 1) -> LRN         (N, 64, 14, 14)
//   conv 5x5 64 SAME + bias -> ReLU -> LRN -> max-pool 3x3/2 (pad 1)         (N, 64, 7, 7)
//   Flatten (3136) -> FC 384 ReLU -> FC 192 ReLU -> FC classes
// The second block puts LRN before the pool, the ordering of the tutorial (papers.md: "likely
// choice", unconfirmed for the paper); the order does not change the parameter count. LRN uses
// the tutorial's depth_radius 4, bias 1, alpha 0.001/9, beta 0.75, i.e. our (PyTorch-style)
// LocalResponseNorm(size 9, alpha 0.001, beta 0.75, k 1): PyTorch divides alpha by size, TF does not.
// 3 input channels, 10 classes: 1,387,786 parameters. Expects 28x28 input (the FC size is fixed).
std::shared_ptr<Sequential> alexnet_small(std::int64_t in_channels, std::int64_t classes, Generator& gen,
                                          DType dtype = DType::f32);

// Small Inception (papers.md's table): conv module = conv kxk SAME -> [BatchNorm2d] -> ReLU.
// batch_norm true: conv without bias + BatchNorm with only a shift (affine = shift; eps and
// momentum are BatchNormOptions' defaults since the paper's are unconfirmed); false: conv with
// bias and no BatchNorm, He-normal weights and zero biases (the default init leaves this deep a
// ReLU net without BatchNorm untrainable). Both give one extra parameter per conv channel, hence
// the same count, 1,649,402 for 3 input channels and 10 classes. Inception module = Concat(conv 1x1, conv 3x3);
// Downsample = Concat(conv 3x3 stride 2 pad 1, max-pool 3x3 stride 2 pad 1): 28 -> 14 -> 7.
// Ends with GlobalAvgPool and a Linear (with bias) to classes. x: (N, C, 28, 28) -> (N, classes)
// (any H, W that survive two stride-2 downsamples work: the head is global).
std::shared_ptr<Sequential> inception_small(std::int64_t in_channels, std::int64_t classes, bool batch_norm,
                                            Generator& gen, DType dtype = DType::f32);

// A table of the model's top-level layers (the children of a Sequential; otherwise the module as
// one row): index, type, output shape and parameter count, then the total parameter count as
// "Total params: N". Runs one forward pass under NoGradGuard on zeros of input_shape in the
// dtype of the model's first parameter (f32 when it has none), in eval mode so BatchNorm's
// running statistics are left untouched; every module's own training flag is restored after.
std::string model_summary(Module& model, const Shape& input_shape);

}  // namespace gs::nn
