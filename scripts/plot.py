"""Figures of gradscope runs, drawn from the files in a run folder (metrics.jsonl, summary.json).

    /usr/bin/python3 scripts/plot.py train RUN_DIR           # learning curves of one classifier run
    /usr/bin/python3 scripts/plot.py randomization RUN_DIR   # Zhang et al. Figure 1a, 1b, 1c
    /usr/bin/python3 scripts/plot.py regularization RUN_DIR  # Table 1 learning curves, Figure 2b
    /usr/bin/python3 scripts/plot.py expressivity RUN_DIR    # Zhang et al. section 4: residual vs n, SGD
    /usr/bin/python3 scripts/plot.py implicit_reg RUN_DIR    # Zhang et al. section 5: distance to w*, kernels
    /usr/bin/python3 scripts/plot.py stiffness RUN_DIR       # class-stiffness heatmaps, stiffness vs distance
    /usr/bin/python3 scripts/plot.py stiffness_lr RUN_DIR    # a gs-stiffness --lrs sweep: stiffness and xi per lr

Figures go to RUN_DIR/figures/ as PNG. Needs matplotlib (Debian: python3-matplotlib); exits with
status 3 and a one-line reason when it is missing.
"""
import json
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed (Debian: apt-get install python3-matplotlib)")
    sys.exit(3)


def read_metrics(run):
    path = os.path.join(run, "metrics.jsonl")
    records = []
    with open(path) as f:
        for line in f:
            if line.endswith("\n"):
                records.append(json.loads(line))
    return records


def save(fig, run, name):
    out = os.path.join(run, "figures")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=120)
    os.replace(path + ".tmp.png", path)  # a reader never sees half a PNG
    plt.close(fig)
    return path


def plot_train(run):
    records = read_metrics(run)
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    if steps:
        a.plot([r["step"] for r in steps], [r["loss"] for r in steps], label="minibatch loss")
    if epochs:
        a.plot([r["step"] for r in epochs], [r["train_loss"] for r in epochs], "o-", label="train loss (eval)")
        a.plot([r["step"] for r in epochs], [r["test_loss"] for r in epochs], "s-", label="test loss")
        b.plot([r["epoch"] for r in epochs], [100 * r["train_accuracy"] for r in epochs], "o-", label="train")
        b.plot([r["epoch"] for r in epochs], [100 * r["test_accuracy"] for r in epochs], "s-", label="test")
    a.set_xlabel("step")
    a.set_ylabel("loss")
    a.legend()
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy (%)")
    b.legend()
    print("figure:", save(fig, run, "curves.png"))


def plot_randomization(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    models = list(summary["models"])
    # 1a: training loss vs steps for every setting, one panel per model.
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        for name in summary["models"][model]["runs"]:
            path = os.path.join(run, model, name)
            if not os.path.exists(os.path.join(path, "metrics.jsonl")):
                continue
            steps = [r for r in read_metrics(path) if r["kind"] == "step"]
            if steps:
                ax.plot([r["step"] / 1000 for r in steps], [r["loss"] for r in steps], label=name)
        ax.set_title(model)
        ax.set_xlabel("thousands of steps")
        ax.set_ylabel("average training loss")
        ax.legend(fontsize=7)
    print("figure:", save(fig, run, "figure1a.png"))
    # 1b: convergence time relative to p = 0; 1c: test error vs p.
    for key, ylabel, name in (("relative_steps", "time to overfit (relative to p = 0)", "figure1b.png"),
                              ("test_error", "test error", "figure1c.png")):
        fig, ax = plt.subplots(figsize=(5, 4))
        for model in models:
            full = summary["models"][model].get("corruption_curve", [])
            curve = [c for c in full if c[key] is not None]
            line, = ax.plot([c["p"] for c in curve], [c[key] for c in curve], "o-", label=model)
            if key == "relative_steps":
                # A level that never fitted is drawn at the steps it ran, as a lower bound.
                base = next((c["steps_to_fit"] for c in full if c["p"] == 0), None)
                runs = summary["models"][model]["runs"].values()
                unfit = [(c["p"], r["steps"] / base) for c in full if c["steps_to_fit"] is None and base
                         for r in runs if r.get("p") == c["p"] and r.get("steps")]
                if unfit:
                    ax.plot([u[0] for u in unfit], [u[1] for u in unfit], "^", mfc="none", color=line.get_color(),
                            label=model + ": not fitted (steps run)")
        ax.set_xlabel("label corruption p")
        ax.set_ylabel(ylabel)
        ax.legend()
        print("figure:", save(fig, run, name))


def plot_regularization(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    models = list(summary["models"])

    def epochs_of(path):
        return [r for r in read_metrics(path) if r["kind"] == "epoch"] if os.path.exists(
            os.path.join(path, "metrics.jsonl")) else []

    # Every row's train/test accuracy per epoch, one panel per model.
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        for i, name in enumerate(summary["models"][model]["rows"]):
            recs = epochs_of(os.path.join(run, model, name))
            color = f"C{i}"
            ax.plot([r["epoch"] for r in recs], [100 * r["train_accuracy"] for r in recs], "-", color=color, label=name + " train")
            ax.plot([r["epoch"] for r in recs], [100 * r["test_accuracy"] for r in recs], "--", color=color, label=name + " test")
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=6)
    print("figure:", save(fig, run, "regularization_curves.png"))
    # Figure 2b: Inception with vs without BatchNorm, no explicit regularizer.
    if all("none" in summary["models"].get(m, {}).get("rows", {}) for m in ("inception_small", "inception_small_nobn")):
        fig, ax = plt.subplots(figsize=(5, 4))
        for model, label in (("inception_small", "Inception"), ("inception_small_nobn", "Inception w/o BatchNorm")):
            recs = epochs_of(os.path.join(run, model, "none"))
            ax.plot([r["epoch"] for r in recs], [100 * r["train_accuracy"] for r in recs], "-", label=label + " (train)")
            ax.plot([r["epoch"] for r in recs], [100 * r["test_accuracy"] for r in recs], "--", label=label + " (test)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)")
        ax.legend(fontsize=7)
        print("figure:", save(fig, run, "figure2b.png"))


def plot_expressivity(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    sizes = summary["sizes"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    ns = [r["n"] for r in sizes]
    a.loglog(ns, [max(r["max_residual_f64"], 1e-18) for r in sizes], "o-", label="construction, f64 sum")
    ext = [(r["n"], r["max_residual_extended"]) for r in sizes if r.get("max_residual_extended") is not None]
    if ext:
        a.loglog([e[0] for e in ext], [max(e[1], 1e-18) for e in ext], "s-", label="construction, extended sum")
    a.loglog(ns, [r["f64_error_bound"] for r in sizes], ":", label="worst-case f64 bound")
    sgd = [(r["n"], r["sgd"]["max_residual"]) for r in sizes if r.get("sgd") and "max_residual" in r["sgd"]]
    if sgd:
        a.loglog([e[0] for e in sgd], [e[1] for e in sgd], "^-", label="SGD net, same width")
    a.set_xlabel("n (points)")
    a.set_ylabel("max |c(x_i) - y_i|")
    a.legend(fontsize=8)
    for r in sizes:
        path = os.path.join(run, "n%d" % r["n"])
        if r.get("sgd") and os.path.exists(os.path.join(path, "metrics.jsonl")):
            rec = [m for m in read_metrics(path) if m["kind"] == "sgd"]
            b.semilogy([m["step"] for m in rec], [m["loss"] for m in rec], label="n = %d" % r["n"])
    b.set_xlabel("SGD step")
    b.set_ylabel("training loss (%s)" % summary["config"]["sgd_loss"])
    if b.lines:
        b.legend(fontsize=8)
    print("figure:", save(fig, run, "expressivity.png"))


def plot_implicit_reg(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    kernel = [k for k in summary.get("kernel", []) if k.get("status") == "complete"]
    fig, axes = plt.subplots(1, 3 if kernel else 1, figsize=(15 if kernel else 5, 4), squeeze=False)
    a = axes[0][0]
    for part in summary.get("linear", []):
        path = os.path.join(run, "linear_" + part["data"])
        if os.path.exists(os.path.join(path, "metrics.jsonl")):
            rec = [m for m in read_metrics(path) if m["kind"] == "linear"]
            a.semilogy([m["epoch"] for m in rec], [m["distance"] / part["w_star_norm"] for m in rec],
                       label="%s (n = %d, d = %d)" % (part["data"], part["n"], part["d"]))
    a.set_xlabel("SGD epoch")
    a.set_ylabel("||w - w*|| / ||w*||")
    a.set_title("linear model: distance to the min-norm interpolant")
    if a.lines:
        a.legend(fontsize=8)
    if kernel:
        # lambda = 0 has no place on a log axis: one category per value, in the order run.
        labels = ["%g" % k["lambda"] for k in kernel]
        xs = range(len(kernel))
        b, c = axes[0][1], axes[0][2]
        b.plot(xs, [100 * k["test_error"] for k in kernel], "o-", label="test")
        b.plot(xs, [100 * k["train_error"] for k in kernel], "s-", label="train")
        b.set_ylabel("error (%)")
        b.legend()
        c.plot(xs, [k["norm"] for k in kernel], "o-")
        c.set_ylabel("sqrt(trace(C^T K C))")
        for ax, title in ((b, "kernel interpolation: error"), (c, "kernel interpolation: norm")):
            ax.set_xticks(list(xs))
            ax.set_xticklabels(labels)
            ax.set_xlabel("lambda")
            ax.set_title(title + " (n = %d)" % kernel[0]["n"])
    print("figure:", save(fig, run, "implicit_reg.png"))


def plot_stiffness(run):
    """gs-stiffness: class-stiffness heatmaps over training, stiffness vs input distance, block means."""
    import numpy as np

    with open(os.path.join(run, "stiffness.json")) as f:
        st = json.load(f)
    arr = lambda m: np.array([[np.nan if v is None else v for v in row] for row in m], dtype=float)
    if "measurements" not in st:  # --eval-only: one model, one set
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
        for ax, key in zip(axes, ("sign", "cosine")):
            im = ax.imshow(arr(st[key]), cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_title(f"class {key} stiffness (test)")
            fig.colorbar(im, ax=ax)
        print("figure:", save(fig, run, "class_stiffness.png"))
        if "superclass" in st:
            fig, axes = plt.subplots(1, 2, figsize=(9, 4))
            for ax, key in zip(axes, ("sign", "cosine")):
                im = ax.imshow(arr(st["superclass"][key]), cmap="RdBu_r", vmin=-1, vmax=1)
                ax.set_title(f"super-class {key} stiffness (test)")
                fig.colorbar(im, ax=ax)
            print("figure:", save(fig, run, "superclass_stiffness.png"))
        return
    ms = st["measurements"]
    pick = ms if len(ms) <= 6 else [ms[int(round(i * (len(ms) - 1) / 5))] for i in range(6)]
    fig, axes = plt.subplots(2, len(pick) + 1, figsize=(2.6 * len(pick) + 0.6, 5.2), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * len(pick) + [0.08]})
    for k, m in enumerate(pick):
        for r, split in enumerate(("train", "val")):
            im = axes[r][k].imshow(arr(m["class_stiffness"][split]["cosine"]), cmap="RdBu_r", vmin=-1, vmax=1)
            axes[r][k].set_title(f"{split}, step {m['step']}", fontsize=9)
            axes[r][k].set_xticks([])
            axes[r][k].set_yticks([])
    fig.colorbar(im, cax=axes[0][-1])  # the narrow last column holds the colorbar
    axes[1][-1].axis("off")
    fig.suptitle("class cosine stiffness")
    print("figure:", save(fig, run, "class_stiffness.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, dname in zip(axes, ("euclidean", "cosine")):
        for m in pick:
            c = m["distance_curves"][dname]["cosine"]
            centers = [(a + b) / 2 for a, b in zip(c["edges"][:-1], c["edges"][1:])]
            ax.plot(centers, [np.nan if v is None else v for v in c["mean"]], "o-", ms=3, label=f"step {m['step']}")
        ax.axhline(0, color="gray", lw=0.5)
        ax.set_xlabel(f"{dname} distance between inputs")
        ax.set_ylabel("mean cosine stiffness")
        ax.legend(fontsize=7)
    print("figure:", save(fig, run, "stiffness_distance.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    steps = [max(m["step"], 0.5) for m in ms]  # step 0 drawn at 0.5 on the log axis
    for ax, kind in zip(axes, ("cosine", "sign")):
        for key in ("train_train", "train_val", "val_val", "train_within_class", "train_between_class"):
            ax.plot(steps, [np.nan if m[kind][key] is None else m[kind][key] for m in ms], "o-", ms=3, label=key)
        ax.set_xscale("log")
        ax.set_xlabel("step (0 drawn at 0.5)")
        ax.set_ylabel(f"{kind} stiffness")
        ax.legend(fontsize=7)
    print("figure:", save(fig, run, "stiffness_blocks.png"))

    if "superclass_stiffness" in ms[0]:
        # CIFAR-100: the super-class matrices (train probes), and the fine class matrix with its
        # classes ordered by super-class so the block structure of papers.md §2.3 shows.
        coarse = st["examples"]["coarse_labels"][: st["examples"]["n_train"]]
        fine = st["examples"]["labels"][: st["examples"]["n_train"]]
        f2c = {}
        for f, c in zip(fine, coarse):
            f2c.setdefault(f, c)
        order = sorted(range(st["classes"]), key=lambda k: (f2c.get(k, 1 << 30), k))
        fig, axes = plt.subplots(2, len(pick) + 1, figsize=(2.6 * len(pick) + 0.6, 5.2), squeeze=False,
                                 gridspec_kw={"width_ratios": [1] * len(pick) + [0.08]})
        for k, m in enumerate(pick):
            im = axes[0][k].imshow(arr(m["superclass_stiffness"]["train"]["cosine"]), cmap="RdBu_r", vmin=-1, vmax=1)
            axes[0][k].set_title(f"super-classes, step {m['step']}", fontsize=9)
            c = arr(m["class_stiffness"]["train"]["cosine"])[np.ix_(order, order)]
            axes[1][k].imshow(c, cmap="RdBu_r", vmin=-1, vmax=1)
            axes[1][k].set_title("fine, by super-class", fontsize=9)
            for r in (0, 1):
                axes[r][k].set_xticks([])
                axes[r][k].set_yticks([])
        fig.colorbar(im, cax=axes[0][-1])
        axes[1][-1].axis("off")
        fig.suptitle("cosine stiffness of train probes")
        print("figure:", save(fig, run, "superclass_stiffness.png"))


def plot_stiffness_lr(run):
    """gs-stiffness --lrs: within/between-class stiffness and xi over training, one line per learning rate."""
    import numpy as np

    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    val = lambda v: np.nan if v is None else v
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for e in summary["runs"]:
        ot = e["over_training"]
        steps = [max(o["step"], 0.5) for o in ot]  # step 0 drawn at 0.5 on the log axis
        label = f"lr {e['lr']:g}"
        axes[0][0].plot(steps, [val(o["cosine"]["train_within_class"]) for o in ot], "o-", ms=3, label=label)
        axes[0][1].plot(steps, [val(o["cosine"]["train_between_class"]) for o in ot], "o-", ms=3, label=label)
        line, = axes[1][0].plot(steps, [val(o["xi"]["euclidean"]["half"]) for o in ot], "o-", ms=3, label=label + " xi_1/2")
        axes[1][0].plot(steps, [val(o["xi"]["euclidean"]["zero"]) for o in ot], "s--", ms=3, color=line.get_color(),
                        label=label + " xi_0")
        axes[1][1].plot([val(o["probe_train_loss"]) for o in ot], [val(o["cosine"]["train_between_class"]) for o in ot],
                        "o-", ms=3, label=label)
    for ax, title in ((axes[0][0], "within-class cosine stiffness"), (axes[0][1], "between-class cosine stiffness"),
                      (axes[1][0], "xi_1/2 and xi_0 (euclidean input distance)")):
        ax.set_xscale("log")
        ax.set_xlabel("step (0 drawn at 0.5)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    axes[1][1].set_xlabel("probe train loss")
    axes[1][1].set_title("between-class stiffness at a given training loss", fontsize=10)
    axes[1][1].invert_xaxis()  # training runs left to right
    axes[1][1].legend(fontsize=7)
    fig.suptitle("learning-rate sweep (train probes)")
    print("figure:", save(fig, run, "stiffness_lr.png"))


KINDS = {"train": plot_train, "randomization": plot_randomization, "regularization": plot_regularization,
         "expressivity": plot_expressivity, "implicit_reg": plot_implicit_reg, "stiffness": plot_stiffness,
         "stiffness_lr": plot_stiffness_lr}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        print(f"usage: plot.py {{{','.join(KINDS)}}} RUN_DIR")
        sys.exit(2)
    KINDS[sys.argv[1]](sys.argv[2])
