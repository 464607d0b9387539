#pragma once
// Functions marked GS_HOST_DEVICE compile for the CPU (host compiler) and the GPU (nvcc), so each
// formula is written once, as a functor, and shared by the CPU loops and the CUDA kernels.
#if defined(__CUDACC__)
#define GS_HOST_DEVICE __host__ __device__
#else
#define GS_HOST_DEVICE
#endif
