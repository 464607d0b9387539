#pragma once
// Process-wide settings of the CUDA backend (TF32, deterministic algorithms, how cuDNN chooses
// convolution algorithms). They are plain flags, compiled in every build, so a command-line flag
// (--tf32, --deterministic, --cudnn-benchmark) can set them without caring whether CUDA is built;
// the cuBLAS and cuDNN wrappers read them on each call.
namespace gs::kernels {

// Whether f32 GEMMs and convolutions may use TF32 tensor cores (10-bit mantissa products). Default
// false: cuBLAS and cuDNN are pinned to full-precision FMA math, so CUDA results agree with the CPU
// to float rounding. Takes effect for calls issued after it returns.
void set_allow_tf32(bool allow);
bool allow_tf32();

// Whether cuDNN must pick algorithms that give bitwise identical results run to run (no atomic
// accumulation); an op with no such algorithm for its shape throws instead of silently using one.
// Default false: the fastest algorithm the heuristics name.
void set_deterministic(bool deterministic);
bool deterministic();

// Whether cuDNN convolution algorithms are chosen by timing every candidate once per shape
// (cudnnFind*AlgorithmEx) instead of by cuDNN's heuristics. Default false: the heuristics' choice
// does not depend on timing noise, so two runs compute the same thing. Takes effect for shapes
// first seen after it returns (choices are cached per shape and setting).
void set_conv_benchmark(bool benchmark);
bool conv_benchmark();

}  // namespace gs::kernels
