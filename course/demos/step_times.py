"""Measure the CPU cost of one training step, as ``i2ilab train`` would run it.

The instructor README estimates how long the demo models take to pretrain from these numbers::

    python course/demos/step_times.py pix2pix --image-size 128 --batch-size 8 --steps 6
    python course/demos/step_times.py cyclegan munit --image-size 32 --ngf 16

For each model it builds the trainer ``i2ilab train`` builds (``i2ilab.recipes.build_trainer``) on
synthetic batches in memory, runs ``--warmup`` steps (tracing, first allocations), then
``--steps`` steps one at a time, and prints the median process CPU time (user + system, all
threads) and wall time per step. On a quiet machine with N cores, wall is about CPU / N; on a
loaded machine CPU time is the steadier number.
"""

import argparse
import json
import sys
import time

import numpy as np


def measure(model, image_size=32, batch_size=1, ngf=64, ndf=64, steps=10, warmup=2, seed=0):
    """{"cpu_s": median CPU s/step, "wall_s": median wall s/step, ...} for one configuration."""
    import keras

    from i2ilab import color, recipes
    from i2ilab.data import synthetic

    keras.utils.set_random_seed(seed)
    cfg = recipes.arch_config(model, image_size, ngf, ndf)
    trainer = recipes.build_trainer(cfg, seed=seed)
    name = recipes.SYNTHETIC[model]
    if name in synthetic.UNPAIRED:
        a = synthetic.generate(name, batch_size, image_size, split="trainA")["A"]
        b = synthetic.generate(name, batch_size, image_size, split="trainB")["B"]
        x, y = a, b
    elif name == "colors":
        x, y = color.rgb_to_l_ab_np(synthetic.generate(name, batch_size, image_size)["rgb"])
    else:
        pair = synthetic.generate(name, batch_size, image_size)
        x, y = pair["A"], pair["B"]
    x, y = np.asarray(x, "float32"), np.asarray(y, "float32")
    cpu, wall = [], []
    for i in range(warmup + steps):
        c0, t0 = time.process_time(), time.perf_counter()
        trainer.train_on_batch(x, y)
        if i >= warmup:
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
    return {
        "model": model,
        "image_size": image_size,
        "batch_size": batch_size,
        "ngf": ngf,
        "ndf": ndf,
        "steps": steps,
        "backend": keras.backend.backend(),
        "cpu_s": float(np.median(cpu)),
        "wall_s": float(np.median(wall)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", choices=("colorize", "pix2pix", "cyclegan", "munit"))
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    args = parser.parse_args(argv)
    for model in args.models:
        result = measure(model, args.image_size, args.batch_size, args.ngf, args.ndf, args.steps, args.warmup)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
