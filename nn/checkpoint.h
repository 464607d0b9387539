#pragma once
// Training checkpoints: everything needed to continue a run exactly, in one safetensors file
// (nn/safetensors.h) that other tools can read.
//
//   tensors      the model's state_dict under its PyTorch names ("0.weight", "3.running_mean", ...),
//                then the optimizer's state as "optimizer.<param name>.<kind>" (momentum_buffer,
//                exp_avg, exp_avg_sq)
//   __metadata__ "gradscope.checkpoint": JSON text with
//                  "format": 1,
//                  "optimizer": {"type": "SGD" | "Adam", "step": n, "lr": x},
//                  "generators": {"<module path>": {"seed", "stream", "offset"}} for every Dropout,
//                  "run": the caller's own state (epoch, batch, counters, ...)
//
// PyTorch users load the weights with
//   sd = {k: v for k, v in safetensors.torch.load_file(p).items() if not k.startswith("optimizer.")}
//   model.load_state_dict(sd)
// (the README shows it). The learning-rate schedule is a pure function of (epoch, step) (schedule.h)
// and the data order one of (seed, epoch, batch) (data/loader.h), so the run state's position
// restores both.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "nn/module.h"
#include "nn/optim.h"

namespace gs::nn {

// Tensor names starting with this prefix hold optimizer state.
inline constexpr const char* kOptimizerPrefix = "optimizer.";
// The metadata key of the checkpoint's JSON.
inline constexpr const char* kCheckpointKey = "gradscope.checkpoint";

// Writes model, optimizer, Dropout generators and `run` atomically to `path`. Throws gs::Error
// (naming the path) when the model has a parameter or buffer named with the optimizer prefix.
void save_checkpoint(const std::filesystem::path& path, const Module& model, const Optimizer& optimizer,
                     const nlohmann::json& run = nlohmann::json::object());

// Restores what save_checkpoint wrote into a model and optimizer built like the saved ones, and
// returns the "run" JSON. Throws gs::Error naming the file and the defect: a corrupt or truncated
// file (load_safetensors' checks), a file without gradscope checkpoint metadata, an optimizer of
// another type, missing, unexpected or mismatched tensors (every one named), a Dropout module
// without a saved generator or the reverse. Everything is validated before anything is written,
// so a failed load leaves model and optimizer untouched.
nlohmann::json load_checkpoint(const std::filesystem::path& path, Module& model, Optimizer& optimizer);

}  // namespace gs::nn
