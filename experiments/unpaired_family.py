"""The unpaired family on the synthetic day2night set: how right is each translation?

Issue 21. Every unpaired trainer of :mod:`i2ilab.training` (CycleGAN, DistanceGAN, CUT, FastCUT,
UNIT, DiscoGAN, DualGAN) and the "GAN alone" ablation (CycleGAN with lambda_cycle = 0 and
lambda_identity = 0: an adversarial loss and nothing that ties the output to its input) are
trained on i2ilab's ``day2night`` set with the same number of steps, the same batch size, the same
data order and the same seed, and scored on the test images, whose true night counterparts the
set keeps (``testA_true``):

- **retrieval**: :func:`i2ilab.metrics.counterpart_retrieval` of G(testA) against testA_true (the
  fraction of outputs whose nearest true night image, by mean L1 among all ``--n-test``, is their
  own; chance 1/N): high only when the output depends on its input the right way;
- **error**: :func:`i2ilab.metrics.translation_error`, mean |G(a) - true b| in [-1, 1] units,
  beside two baselines printed under the table: the input itself (identity mapping) and the mean
  night training image (an output that ignores its input);
- **params**: trainable parameters of the generator side (the networks that translate, UNIT's
  two VAE generators, CUT's G; not CUT's patch sampler F) and of everything trained (with D, F);
- **s/step**: the median wall time of one training step after ``--warmup`` steps (the timed
  steps are the rest of the run), on whatever machine runs it.

Run ``python -m experiments.unpaired_family [--image-size 32] [--steps 300] [--width 16]
[--methods ...] [--out experiments/results/unpaired_family_32.json] [--results-md
experiments/RESULTS.md]``. Outputs: the markdown table on stdout, the JSON file (every number,
the final losses, the settings, the versions), and the table as the section "Unpaired family"
of ``--results-md`` (replaced when it is there; ``--results-md ''`` writes none).

Settings, and where they differ from the references:
- Networks: :func:`i2ilab.recipes.build_networks` at ``--width`` channels (G and D) with
  ``--blocks`` residual blocks (CycleGAN, DistanceGAN, CUT, FastCUT; UNIT's n_res), the recipes'
  depths otherwise (PatchGAN n_layers 2 at 32 px, DualGAN's U-Net down to 1x1, UNIT's scales).
- Trainers: :func:`i2ilab.recipes.make_trainer`, i.e. each reference's loss weights;
  DistanceGAN's distance statistics from :func:`i2ilab.recipes.data_statistics`. GAN alone: the
  CycleGAN recipe's networks in a ``CycleGAN(lambda_cycle=0, lambda_identity=0)``.
- Optimizers: each trainer's own (Adam; DualGAN's RMSprop; UNIT's weight decay) at ``--lr``
  (default 5e-4, lab 3's smoke rate: a short CPU run learns faster with a higher rate) except
  DualGAN, whose WGAN critic with weight clipping keeps its reference rate 5e-5 scaled by the
  same factor as the others (``--lr`` / 2e-4): 1.25e-4 by default.
- DiscoGAN's networks are the reference's fixed 64x64 architecture: it trains on the 64 px
  rendering of the same scenes (``synthetic_root("day2night", 64)``; the set draws its scenes
  from the seed, not the size) and its outputs are averaged down 2x2 to the other methods' size
  before scoring, so every row is scored against the same truths. At ``--image-size 64`` it is
  like the others.
- Data: the 512 training images per domain, batch ``--batch`` (4), no jitter, a seeded shuffle;
  the first ``--n-test`` (64) test images.
"""

import argparse
import datetime
import json
import pathlib
import platform
import statistics
import sys
import time

METHODS = ("gan_alone", "cyclegan", "distancegan", "cut", "fastcut", "unit", "discogan", "dualgan")
LABELS = {
    "gan_alone": "GAN alone",
    "cyclegan": "CycleGAN",
    "distancegan": "DistanceGAN",
    "cut": "CUT",
    "fastcut": "FastCUT",
    "unit": "UNIT",
    "discogan": "DiscoGAN",
    "dualgan": "DualGAN",
}
#: The recipe (i2ilab.recipes model name) of each method.
RECIPE = {method: ("cyclegan" if method == "gan_alone" else method) for method in METHODS}
#: DualGAN's reference learning rate against the Adam references' 2e-4 (scaled together by --lr).
DUALGAN_LR_RATIO = 5e-5 / 2e-4
DEFAULT_OUT = "experiments/results/unpaired_family_{size}.json"
SECTION = "## Unpaired family on day2night"


def method_size(method, image_size):
    """The size ``method`` trains at: DiscoGAN's fixed 64 px, else ``image_size``."""
    return 64 if method == "discogan" else int(image_size)


def build(method, image_size=32, width=16, blocks=3, seed=0, lr=5e-4, n_train=512):
    """A compiled trainer of ``method`` (:data:`METHODS`) with fresh, seeded networks."""
    import keras

    from i2ilab import recipes, training

    model = RECIPE[method]
    size = method_size(method, image_size)
    cfg = recipes.arch_config(model, size, ngf=width, ndf=width)
    if "n_blocks" in cfg:
        cfg["n_blocks"] = int(blocks)
    if model == "unit":
        cfg["n_res"] = int(blocks)
    cfg = recipes.data_statistics(cfg, "synthetic", n_train=n_train)
    keras.utils.set_random_seed(seed)
    nets = recipes.build_networks(cfg)
    if method == "gan_alone":
        trainer = training.CycleGAN(
            nets["g_ab"], nets["g_ba"], nets["d_a"], nets["d_b"], lambda_cycle=0.0, lambda_identity=0.0, seed=seed
        )
    else:
        trainer = recipes.make_trainer(model, nets, seed=seed, cfg=cfg)
    trainer.compile()
    rate = float(lr) * (DUALGAN_LR_RATIO if method == "dualgan" else 1.0)
    for opt in (trainer.g_optimizer, trainer.d_optimizer):
        if opt is not None:
            opt.learning_rate = rate
    trainer.i2ilab_generators = recipes.GENERATORS[model]  # the networks counted as "G side"
    return trainer


def train_data(method, image_size=32, batch=4, seed=0, n_train=512):
    """The repeated, seeded training stream of ``method`` (its size), batches of ``batch``."""
    from i2ilab.data import synthetic_root, unpaired_dataset

    size = method_size(method, image_size)
    root = synthetic_root("day2night", size, n_train=n_train)
    ds = unpaired_dataset(root, image_size=size, jitter=False, batch_size=batch, seed=seed, drop_remainder=True)
    return ds.repeat()


class StepTimer:
    """Keras callback: wall time of every training step (``times``, seconds)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times = []
                self._start = None

            def on_train_batch_begin(self, batch, logs=None):
                self._start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.times.append(time.perf_counter() - self._start)

        return _Timer()


def fit(trainer, data, steps, epochs=1):
    """Train ``steps`` steps in ``epochs`` epochs (a loss curve of ``epochs`` means); return
    (Keras history dict, per-step seconds)."""
    timer = StepTimer()
    history = trainer.fit(
        data, steps_per_epoch=int(steps) // int(epochs), epochs=int(epochs), verbose=0, callbacks=[timer]
    )
    return history.history, timer.times


def test_images(image_size=32, n_test=64):
    """(testA, testA_true) of day2night at ``image_size``: the first ``n_test`` of each."""
    from i2ilab.data import synthetic_root
    from i2ilab.data.synthetic import load_images

    root = synthetic_root("day2night", image_size)
    return load_images(root, "testA")[:n_test], load_images(root, "testA_true")[:n_test]


def translate(method, trainer, test_a, image_size=32):
    """G(test_a) at ``image_size`` (DiscoGAN: its 64 px input upsampled, its output pooled back)."""
    import numpy as np

    size = method_size(method, image_size)
    x = test_a
    if size != x.shape[1]:
        x = np.repeat(np.repeat(test_a, size // x.shape[1], axis=1), size // x.shape[2], axis=2)
    out = np.asarray(trainer.translate(x), np.float32)
    if out.shape[1] != test_a.shape[1]:
        f = out.shape[1] // test_a.shape[1]
        out = out.reshape(len(out), test_a.shape[1], f, test_a.shape[2], f, out.shape[-1]).mean(axis=(2, 4))
    return out


def trainable_parameters(trainer):
    """(generator side, total) trainable parameters of a trained ``trainer``."""
    import numpy as np

    def count(net):
        return int(sum(np.prod(w.shape) for w in net.trainable_weights))

    nets = trainer.networks
    g_side = sum(count(nets[name]) for name in trainer.i2ilab_generators)
    seen, total = set(), 0
    for net in list(nets.values()) + [getattr(trainer, "patch_sampler", None)]:
        if net is None or id(net) in seen:
            continue
        seen.add(id(net))
        total += count(net)
    return g_side, total


def run_method(method, image_size=32, width=16, blocks=3, steps=300, batch=4, seed=0, lr=5e-4, warmup=5, n_test=64):
    """Train and score one method; a dict of its numbers."""
    from i2ilab.metrics import counterpart_retrieval, translation_error

    t0 = time.perf_counter()
    trainer = build(method, image_size, width, blocks, seed, lr)
    history, times = fit(trainer, train_data(method, image_size, batch, seed), steps)
    test_a, true_b = test_images(image_size, n_test)
    fake_b = translate(method, trainer, test_a, image_size)
    g_side, total = trainable_parameters(trainer)
    timed = times[warmup:] if len(times) > warmup else times[-1:]
    return {
        "method": LABELS[method],
        "retrieval": counterpart_retrieval(fake_b, true_b),
        "error": translation_error(fake_b, true_b),
        "params_g": g_side,
        "params_total": total,
        "s_per_step": float(statistics.median(timed)),
        "train_size": method_size(method, image_size),
        "final_losses": {k: float(v[-1]) for k, v in history.items()},
        "wall_s": time.perf_counter() - t0,
    }


def baselines(image_size=32, n_test=64):
    """Translation error of the identity mapping and of the mean night training image."""
    import numpy as np

    from i2ilab.data import synthetic_root
    from i2ilab.data.synthetic import load_images
    from i2ilab.metrics import counterpart_retrieval, translation_error

    test_a, true_b = test_images(image_size, n_test)
    mean_b = load_images(synthetic_root("day2night", image_size), "trainB").mean(axis=0, keepdims=True)
    mean_b = np.repeat(mean_b, len(true_b), axis=0)
    return {
        "identity (output = input)": {
            "retrieval": counterpart_retrieval(test_a, true_b),
            "error": translation_error(test_a, true_b),
        },
        "mean night image": {
            "retrieval": counterpart_retrieval(mean_b, true_b),
            "error": translation_error(mean_b, true_b),
        },
    }


def _params(n):
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def markdown_table(summary):
    """The comparison table (markdown) of a :func:`run` summary, with the baselines below it."""
    s = summary["settings"]
    lines = [
        f"day2night {s['image_size']} px, {s['steps']} steps of batch {s['batch']}, width {s['width']}, "
        f"seed {s['seed']}, {s['n_test']} test images (retrieval chance {1 / s['n_test']:.3f}).",
        "",
        "| method | retrieval | error A->B | params G / total | s/step |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in summary["results"].values():
        size = "" if r["train_size"] == s["image_size"] else f" ({r['train_size']} px)"
        lines.append(
            f"| {r['method']}{size} | {r['retrieval']:.3f} | {r['error']:.3f} | "
            f"{_params(r['params_g'])} / {_params(r['params_total'])} | {r['s_per_step']:.3f} |"
        )
    for name, b in summary["baselines"].items():
        lines.append(f"| *{name}* | {b['retrieval']:.3f} | {b['error']:.3f} | - | - |")
    return "\n".join(lines)


def versions():
    import keras

    v = {"python": platform.python_version(), "keras": keras.__version__, "backend": keras.backend.backend()}
    if v["backend"] == "tensorflow":
        import tensorflow as tf

        v["tensorflow"] = tf.__version__
    elif v["backend"] == "jax":
        import jax

        v["jax"] = jax.__version__
    return v


def run(
    methods=METHODS,
    image_size=32,
    steps=300,
    width=16,
    blocks=3,
    batch=4,
    seed=0,
    lr=5e-4,
    warmup=5,
    n_test=64,
    verbose=1,
):
    """Train and score ``methods``; the summary dict (settings, versions, baselines, results)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    t0 = time.perf_counter()
    results = {}
    for method in methods:
        results[method] = run_method(method, image_size, width, blocks, steps, batch, seed, lr, warmup, n_test)
        if verbose:
            r = results[method]
            print(
                f"{r['method']:>12s}: retrieval {r['retrieval']:.3f}, error {r['error']:.3f}, "
                f"{r['s_per_step']:.3f} s/step, {r['wall_s']:.0f} s",
                file=sys.stderr,
            )
    settings = dict(
        image_size=image_size,
        steps=steps,
        width=width,
        blocks=blocks,
        batch=batch,
        seed=seed,
        lr=lr,
        dualgan_lr=lr * DUALGAN_LR_RATIO,
        warmup=warmup,
        n_test=n_test,
    )
    summary = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        "settings": settings,
        "baselines": baselines(image_size, n_test),
        "results": results,
        "wall_s": time.perf_counter() - t0,
    }
    summary["table"] = markdown_table(summary)
    return summary


def results_section(summary, command):
    """The RESULTS.md section of a summary."""
    v = summary["versions"]
    return "\n".join(
        [
            SECTION,
            "",
            "Command (s/step: wall time of one step on the machine that ran it; compare the rows of one run):",
            "",
            "```bash",
            command,
            "```",
            "",
            f"Date {summary['date']}; {v}; wall time {summary['wall_s'] / 60:.1f} min. "
            f"File: `{summary.get('out', '')}`.",
            "",
            summary["table"],
            "",
        ]
    )


def write_section(path, section):
    """Put ``section`` into the markdown file ``path``: replace the one under the same heading
    (up to the next ``## `` heading), else append it."""
    path = pathlib.Path(path)
    text = path.read_text() if path.exists() else "# Reproduction results\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        rest = lines[end:]
        new = "\n".join(lines[:start] + section.rstrip("\n").splitlines() + ([""] + rest if rest else [])) + "\n"
    path.write_text(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=16, help="G and D channels (ngf = ndf)")
    parser.add_argument("--blocks", type=int, default=3, help="residual blocks of the ResNet generators, UNIT's n_res")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=5, help="untimed first steps (tracing, warm-up)")
    parser.add_argument("--n-test", type=int, default=64)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of " + ", ".join(METHODS))
    parser.add_argument("--out", default=None, help="JSON file (default " + DEFAULT_OUT + ")")
    parser.add_argument("--results-md", default="experiments/RESULTS.md", help="'' for none")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    summary = run(
        methods,
        args.image_size,
        args.steps,
        args.width,
        args.blocks,
        args.batch,
        args.seed,
        args.lr,
        args.warmup,
        args.n_test,
    )
    out = pathlib.Path(args.out or DEFAULT_OUT.format(size=args.image_size))
    out.parent.mkdir(parents=True, exist_ok=True)
    summary["out"] = str(out)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(summary["table"])
    if args.results_md:
        command = "python -m experiments.unpaired_family " + " ".join(argv if argv is not None else sys.argv[1:])
        write_section(args.results_md, results_section(summary, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
