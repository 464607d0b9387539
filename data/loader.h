#pragma once
// Loader: batches of a dataset in a seeded order, transformed by a Pipeline and prefetched on a
// background thread. Readers, randomizations and the transforms themselves live elsewhere.
//
// Reproducibility contract: batch b of epoch e holds the examples order(e)[b*B .. b*B + B) where
// order(e) = randperm(N, Generator(seed, kOrderStream)) at offset e*N (or 0..N-1 without shuffle),
// and its augmentation is Pipeline(images, seed, e, b*B). Both are pure functions of
// (seed, epoch, batch index), so seek(e, b) after a restart yields exactly the batches an
// uninterrupted run would have seen, whatever the thread count or prefetch depth.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "data/dataset.h"
#include "data/transforms.h"
#include "tensor/tensor.h"

namespace gs::data {

struct Batch {
    Tensor images;   // the pipeline's output for the B gathered images, e.g. f32 (B, C, H', W')
    Tensor labels;   // i64 (B)
    Tensor indices;  // i64 (B): positions of the examples in the dataset
    std::int64_t epoch = 0;
    std::int64_t index = 0;  // batch index within the epoch
};

struct LoaderOptions {
    std::int64_t batch_size = 128;
    bool shuffle = true;
    bool drop_last = false;  // drop the last, smaller batch of an epoch
    std::uint64_t seed = 0;
    Pipeline transform = Pipeline().to_float();  // default: u8 -> f32 / 255, nothing else
    std::int64_t prefetch = 4;  // batches kept ready by the worker thread; 0 = no thread, next() builds
    int threads = 0;  // OpenMP threads of the worker's transforms (prefetch > 0); 0 = the OpenMP default
};

struct LoaderStats {
    std::int64_t batches = 0;   // returned by next()
    std::int64_t waits = 0;     // next() calls that found no batch ready and had to block
    double wait_seconds = 0.0;  // total time blocked in them
};

// The stream of the epoch order ("ORDR"); public so tools can reproduce an order by hand.
inline constexpr std::uint64_t kOrderStream = 0x4F524452ull << 32;

class Loader {
public:
    // images: (N, C, H, W) of any dtype (u8 as read, f32 for Gaussian randomizations); labels: i64 (N).
    // Both CPU. The loader keeps references (tensors are shared handles; they must not be mutated).
    Loader(Tensor images, Tensor labels, LoaderOptions options = {});
    explicit Loader(const Dataset& dataset, LoaderOptions options = {});
    // Stops and joins the worker (it finishes at most the batch it is building); never hangs.
    ~Loader();
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    std::int64_t size() const { return N_; }
    std::int64_t batches_per_epoch() const { return batches_per_epoch_; }
    const LoaderOptions& options() const { return options_; }

    // i64 (N): the example order of `epoch`.
    Tensor epoch_order(std::int64_t epoch) const;
    // The batch at (epoch, index), built on the calling thread: exactly what next() returns there.
    Batch make_batch(std::int64_t epoch, std::int64_t index) const;

    // The next batch. Epochs follow each other without end: after the last batch of epoch e comes
    // batch 0 of e + 1 (Batch.epoch / .index say where it is). An exception thrown while building a
    // batch on the worker is rethrown here, at that batch, and again on every later call until seek().
    Batch next();
    // Where the next call to next() reads.
    std::int64_t epoch() const { return epoch_; }
    std::int64_t batch_index() const { return batch_; }
    // Repositions to (epoch, batch), e.g. when resuming from a checkpoint; drops prefetched batches.
    void seek(std::int64_t epoch, std::int64_t batch = 0);

    LoaderStats stats() const;

private:
    struct Slot {
        Batch batch;
        std::exception_ptr error;
    };
    void start_worker();
    void stop_worker();
    void worker_loop(std::int64_t epoch, std::int64_t batch);

    Tensor images_, labels_;
    LoaderOptions options_;
    std::int64_t N_ = 0;
    std::int64_t batches_per_epoch_ = 0;
    std::int64_t epoch_ = 0, batch_ = 0;  // consumer cursor
    std::exception_ptr failed_;           // sticky worker error

    mutable std::mutex mutex_;
    std::condition_variable ready_;  // a slot was queued (consumer waits)
    std::condition_variable space_;  // a slot was taken or stop was requested (worker waits)
    std::deque<Slot> queue_;
    bool stop_ = false;
    std::thread worker_;
    LoaderStats stats_;
};

}  // namespace gs::data
