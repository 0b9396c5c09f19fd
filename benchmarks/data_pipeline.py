"""Throughput of the i2ilab.data loaders on this machine, in examples per second.

    python -m benchmarks.data_pipeline [--sizes 32 256] [--n 256] [--batch 1] [--format jpg] [--repeats 2]

An example is what one training step consumes per batch element: an (input, target) pair for
paired_dataset, an (A, B) pair for unpaired_dataset / tfds_unpaired, an (L, ab) pair for
colorization_dataset. The data are the built-in synthetic sets written at each size (re-encoded as
JPEG by default, like the real archives: pix2pix files are then 2S x S JPEGs); load_size is
S * 286 / 256 as in the references. For each loader it times: the first epoch (parallel decode +
resize + filling the in-memory cache), a second epoch (from the cache: crop, flip, batch), and an
epoch with cache=False (the steady state for datasets too big to cache); the best of --repeats
runs. tfds_unpaired runs on tensorflow-datasets' mock_data (random in-memory images of random
size, no files), so it measures the pipeline after decoding only. Prints one line per loader and
size, then one JSON line.
"""

import argparse
import json
import os
import pathlib
import platform
import tempfile
import time


def _to_jpeg(root):
    from PIL import Image

    for png in pathlib.Path(root).rglob("*.png"):
        if "labels" in png.parts:
            continue
        Image.open(png).convert("RGB").save(png.with_suffix(".jpg"), quality=95)
        png.unlink()


def _time_epoch(ds):
    start, count = time.perf_counter(), 0
    for batch in ds:
        count += int(batch[0].shape[0])
    return count, time.perf_counter() - start


def _measure(make, repeats):
    """Best of `repeats` (the machine is shared and noisy) of: epoch 1 of a fresh dataset (decode +
    cache), epoch 2 (from the cache), and an epoch with cache=False; examples/s. Also the build time."""
    best = {"epoch1": 0.0, "epoch2_cached": 0.0, "no_cache": 0.0, "build_s": float("inf")}
    for _ in range(repeats):
        t = time.perf_counter()
        ds = make(cache=None)
        best["build_s"] = min(best["build_s"], time.perf_counter() - t)
        for key, dataset in (("epoch1", ds), ("epoch2_cached", ds), ("no_cache", make(cache=False))):
            n, seconds = _time_epoch(dataset)
            best[key] = max(best[key], n / seconds)
    return {**best, "examples": n}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--n", type=int, default=256, help="training examples per dataset (per domain)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg")
    parser.add_argument("--repeats", type=int, default=2, help="report the best of this many runs")
    args = parser.parse_args(argv)

    import tensorflow as tf
    import tensorflow_datasets as tfds

    from i2ilab.data import synthetic
    from i2ilab.data.loaders import colorization_dataset, paired_dataset, tfds_unpaired, unpaired_dataset

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            load = round(size * 286 / 256)
            roots = {}
            for name in ("labels2photo", "day2night", "colors"):
                roots[name] = synthetic.write_synthetic(
                    name, pathlib.Path(tmp) / f"{name}{size}", n_train=args.n, n_test=1, image_size=size, seed=0
                )
                if args.format == "jpg":
                    _to_jpeg(roots[name])
            common = dict(image_size=size, load_size=load, batch_size=args.batch, seed=0)
            loaders = {
                "paired_dataset": lambda cache: paired_dataset(roots["labels2photo"], cache=cache, **common),
                "unpaired_dataset": lambda cache: unpaired_dataset(roots["day2night"], cache=cache, **common),
                "colorization_dataset": lambda cache: colorization_dataset(roots["colors"], cache=cache, **common),
            }
            for name, make in loaders.items():
                r = _measure(make, args.repeats)
                results.append({"loader": name, "size": size, **r})
            with tfds.testing.mock_data(num_examples=args.n):
                r = _measure(lambda cache: tfds_unpaired("cycle_gan/horse2zebra", cache=cache, **common), args.repeats)
            results.append({"loader": "tfds_unpaired (mock_data)", "size": size, **r})
    for r in results:
        print(
            f"{r['loader']:27s} {r['size']:4d}px batch {args.batch}: epoch 1 (decode+cache) {r['epoch1']:7.0f} ex/s, "
            f"epoch 2 (cached) {r['epoch2_cached']:7.0f} ex/s, cache=False {r['no_cache']:7.0f} ex/s"
        )
    summary = {
        "benchmark": "data_pipeline",
        "unit": "examples/s",
        "format": args.format,
        "n": args.n,
        "batch": args.batch,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "results": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in results],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
