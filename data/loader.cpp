// Loader: seeded order, gather, pipeline, bounded prefetch queue on one worker thread.
#include "data/loader.h"

#include <omp.h>

#include <chrono>
#include <cstring>
#include <utility>

#include "tensor/random.h"

namespace gs::data {
namespace {

// Copies images[indices[b]] to out[b] for each b. images: contiguous (N, ...) any dtype.
Tensor gather_images(const Tensor& images, const std::int64_t* idx, std::int64_t B) {
    Shape shape = images.shape();
    shape[0] = B;
    Tensor out = Tensor::empty(shape, images.dtype());
    const std::size_t bytes = std::size_t(images.numel() / images.size(0)) * images.itemsize();
    const auto* src = static_cast<const char*>(images.raw_data());
    auto* dst = static_cast<char*>(out.raw_data());
#pragma omp parallel for if (B >= 64) schedule(static)
    for (std::int64_t b = 0; b < B; ++b) std::memcpy(dst + std::size_t(b) * bytes, src + std::size_t(idx[b]) * bytes, bytes);
    return out;
}

// The batch at (epoch, index) given that epoch's order.
Batch build_batch(const Tensor& images, const Tensor& labels, const LoaderOptions& opt, const Tensor& order,
                  std::int64_t epoch, std::int64_t index) {
    const std::int64_t N = order.numel();
    const std::int64_t start = index * opt.batch_size;
    const std::int64_t B = std::min(opt.batch_size, N - start);
    Batch batch;
    batch.epoch = epoch;
    batch.index = index;
    batch.indices = order.narrow(0, start, B).clone();
    const auto* idx = batch.indices.data<std::int64_t>();
    batch.labels = Tensor::empty({B}, DType::i64);
    const auto* y = labels.data<std::int64_t>();
    auto* yb = batch.labels.data<std::int64_t>();
    for (std::int64_t b = 0; b < B; ++b) yb[b] = y[idx[b]];
    batch.images = opt.transform(gather_images(images, idx, B), opt.seed, epoch, start);
    return batch;
}

}  // namespace

Loader::Loader(Tensor images, Tensor labels, LoaderOptions options)
    : images_(std::move(images)), labels_(std::move(labels)), options_(std::move(options)) {
    GS_CHECK(images_.defined() && labels_.defined(), "Loader: images and labels must be defined");
    GS_CHECK(images_.dim() >= 1 && images_.device().is_cpu(), "Loader: expected CPU images (N, ...), got ",
             images_.describe());
    GS_CHECK(labels_.dtype() == DType::i64 && labels_.dim() == 1 && labels_.size(0) == images_.size(0),
             "Loader: labels must be i64 (", images_.size(0), ") to match images ", images_.describe(), ", got ",
             labels_.describe());
    GS_CHECK(options_.batch_size >= 1, "Loader: batch_size must be positive, got ", options_.batch_size);
    GS_CHECK(options_.prefetch >= 0, "Loader: prefetch must be >= 0, got ", options_.prefetch);
    images_ = images_.contiguous();
    labels_ = labels_.contiguous();
    N_ = images_.size(0);
    batches_per_epoch_ = options_.drop_last ? N_ / options_.batch_size
                                            : (N_ + options_.batch_size - 1) / options_.batch_size;
    GS_CHECK(batches_per_epoch_ > 0, "Loader: ", N_, " examples make no batch of ", options_.batch_size,
             options_.drop_last ? " with drop_last" : "");
}

Loader::Loader(const Dataset& dataset, LoaderOptions options)
    : Loader(dataset.images, dataset.labels, std::move(options)) {}

Loader::~Loader() { stop_worker(); }

Tensor Loader::epoch_order(std::int64_t epoch) const {
    GS_CHECK(epoch >= 0, "Loader: negative epoch ", epoch);
    if (!options_.shuffle) return Tensor::arange(N_);
    Generator g(options_.seed, kOrderStream);
    g.offset = std::uint64_t(epoch) * std::uint64_t(N_);
    return randperm(N_, g);
}

Batch Loader::make_batch(std::int64_t epoch, std::int64_t index) const {
    GS_CHECK(index >= 0 && index < batches_per_epoch_, "Loader: batch ", index, " outside [0, ", batches_per_epoch_,
             ") of epoch ", epoch);
    return build_batch(images_, labels_, options_, epoch_order(epoch), epoch, index);
}

void Loader::worker_loop(std::int64_t epoch, std::int64_t batch) {
    if (options_.threads > 0) omp_set_num_threads(options_.threads);  // this thread's own OpenMP setting
    Tensor order;
    std::int64_t order_epoch = -1;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            space_.wait(lock, [&] { return stop_ || std::int64_t(queue_.size()) < options_.prefetch; });
            if (stop_) return;
        }
        Slot slot;
        try {
            if (order_epoch != epoch) {
                order = epoch_order(epoch);
                order_epoch = epoch;
            }
            slot.batch = build_batch(images_, labels_, options_, order, epoch, batch);
        } catch (...) {
            slot.error = std::current_exception();
        }
        const bool failed = slot.error != nullptr;
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(slot));
        }
        ready_.notify_one();
        if (failed) return;  // nothing after a failed batch is meaningful
        if (++batch == batches_per_epoch_) {
            batch = 0;
            ++epoch;
        }
    }
}

void Loader::start_worker() {
    stop_ = false;
    worker_ = std::thread([this, e = epoch_, b = batch_] { worker_loop(e, b); });
}

void Loader::stop_worker() {
    if (!worker_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    space_.notify_all();
    worker_.join();
    queue_.clear();
}

Batch Loader::next() {
    if (failed_) std::rethrow_exception(failed_);
    Batch batch;
    if (options_.prefetch == 0) {
        try {
            batch = make_batch(epoch_, batch_);
        } catch (...) {
            failed_ = std::current_exception();
            throw;
        }
        std::lock_guard lock(mutex_);
        ++stats_.batches;
    } else {
        if (!worker_.joinable()) start_worker();
        Slot slot;
        {
            std::unique_lock lock(mutex_);
            if (queue_.empty()) {
                ++stats_.waits;
                const auto t0 = std::chrono::steady_clock::now();
                ready_.wait(lock, [&] { return !queue_.empty(); });
                stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            }
            slot = std::move(queue_.front());
            queue_.pop_front();
            ++stats_.batches;
        }
        space_.notify_one();
        if (slot.error) {
            failed_ = slot.error;
            std::rethrow_exception(failed_);
        }
        batch = std::move(slot.batch);
        GS_CHECK(batch.epoch == epoch_ && batch.index == batch_, "Loader: internal error, the worker produced batch (",
                 batch.epoch, ", ", batch.index, ") where (", epoch_, ", ", batch_, ") was due");
    }
    if (++batch_ == batches_per_epoch_) {
        batch_ = 0;
        ++epoch_;
    }
    return batch;
}

void Loader::seek(std::int64_t epoch, std::int64_t batch) {
    GS_CHECK(epoch >= 0 && batch >= 0 && batch < batches_per_epoch_, "Loader::seek: (", epoch, ", ", batch,
             ") is outside epochs >= 0 and batches [0, ", batches_per_epoch_, ")");
    stop_worker();
    epoch_ = epoch;
    batch_ = batch;
    failed_ = nullptr;
}

LoaderStats Loader::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace gs::data
