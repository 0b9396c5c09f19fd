"""The training-step benchmark in its tiny CI configuration, its FLOP count, and mixed precision.

Nothing here is timed: the benchmark runs a few steps so that it cannot rot, and its output is
checked for form and internal consistency. The FLOP count is checked against hand formulas (and
against XLA's own count on JAX). Mixed precision (mixed_bfloat16) is checked to give finite
losses close to float32 for one Pix2Pix and one CycleGAN step from identical weights.
"""

import json
import math

import keras
import numpy as np
import pytest

from benchmarks import flops, train_step
from i2ilab import layers as L
from i2ilab import models, training

BACKEND = keras.backend.backend()

EXPECTED_LOGS = {
    "pix2pix": {"G_GAN", "G_L1", "D_real", "D_fake"},
    "cyclegan": {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"},
    "munit": {"D", "G_adv", "recon_x", "recon_s", "recon_c"},
    "colorize": {"loss"},
}


def _json_line(out):
    lines = [line for line in out.splitlines() if line.startswith(train_step.JSON_TAG)]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def _check_result(r, model, size, batch, steps, repeat):
    assert (r["model"], r["size"], r["batch"], r["backend"]) == (model, size, batch, BACKEND)
    assert r["median_s"] > 0 and math.isfinite(r["median_s"])
    assert r["p25_s"] <= r["median_s"] <= r["p75_s"]
    assert r["min_s"] <= r["p25_s"]
    assert r["cpu_median_s"] > 0
    assert len(r["repeat_medians_s"]) == repeat
    assert r["steps_per_s"] == pytest.approx(1.0 / r["median_s"], rel=1e-12)
    assert r["images_per_s"] == pytest.approx(batch / r["median_s"], rel=1e-12)
    assert r["flops_per_step"] == sum(r["flops_per_part"].values()) > 0
    assert r["achieved_tflops"] == pytest.approx(r["flops_per_step"] / r["median_s"] / 1e12, rel=1e-9)
    assert set(r["final_logs"]) == EXPECTED_LOGS[model]
    assert all(math.isfinite(v) for v in r["final_logs"].values())
    assert r["command"].startswith(f"python -m benchmarks.train_step --model {model} --size {size}")
    assert f"--steps {steps}" in r["command"] and f"--backend {BACKEND}" in r["command"]


@pytest.mark.slow
def test_tiny_benchmark_every_model(capsys):
    argv = [
        "--model",
        "pix2pix,cyclegan,munit,colorize",
        "--size",
        "64",
        "--batch",
        "1",
        "--tiny",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--repeat",
        "2",
        "--backend",
        BACKEND,
        "--quiet",
    ]
    results = train_step.main(argv)
    out = capsys.readouterr().out
    report = _json_line(out)
    assert report["benchmark"] == "train_step"
    assert report["environment"]["versions"]["keras"] == keras.__version__
    assert report["results"] == json.loads(json.dumps(results))
    assert [r["model"] for r in results] == ["pix2pix", "cyclegan", "munit", "colorize"]
    for r in results:
        _check_result(r, r["model"], 64, 1, 2, 2)
        assert r["width"] == 8 and r["precision"] == "float32" and r["stepping"] == "direct"
        assert r["jit_compile"] == (BACKEND == "jax")
    # one human-readable line per configuration, before the JSON line
    lines = [line for line in out.splitlines() if "s/step" in line]
    assert [line.split()[0] for line in lines] == ["pix2pix", "cyclegan", "munit", "colorize"]


def test_direct_stepping_colorize(capsys):
    """The quick smoke of the compiled direct stepping (jax.jit with donated state on JAX); the
    test-jax pass skips slow tests, so this is the benchmark's CI run there."""
    argv = [
        "--model",
        "colorize",
        "--size",
        "16",
        "--tiny",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--repeat",
        "2",
        "--backend",
        BACKEND,
        "--quiet",
    ]
    (r,) = train_step.main(argv)
    _check_result(r, "colorize", 16, 1, 2, 2)
    assert r["jit_compile"] == (BACKEND == "jax")
    assert _json_line(capsys.readouterr().out)["results"][0]["median_s"] == r["median_s"]


def test_fit_stepping_mixed_precision_batch2(capsys):
    argv = [
        "--model",
        "colorize",
        "--size",
        "16",
        "--batch",
        "2",
        "--tiny",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--repeat",
        "1",
        "--stepping",
        "fit",
        "--mixed-precision",
        "--backend",
        BACKEND,
        "--quiet",
    ]
    (r,) = train_step.main(argv)
    _check_result(r, "colorize", 16, 2, 2, 1)
    assert (r["stepping"], r["precision"]) == ("fit", "mixed_bfloat16")
    assert "--mixed-precision" in r["command"] and "--stepping fit" in r["command"]
    assert keras.mixed_precision.global_policy().name == "float32"  # restored afterwards
    assert _json_line(capsys.readouterr().out)["results"][0]["final_logs"] == r["final_logs"]


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "tensorflow", reason="starts both backends itself; once is enough")
def test_backend_list_runs_each_backend_in_a_subprocess(capsys):
    argv = [
        "--model",
        "colorize",
        "--size",
        "16",
        "--tiny",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--repeat",
        "1",
        "--backend",
        "tensorflow,jax",
        "--quiet",
    ]
    results = train_step.main(argv)
    assert [r["backend"] for r in results] == ["tensorflow", "jax"]
    assert [r["jit_compile"] for r in results] == [False, True]
    assert len(_json_line(capsys.readouterr().out)["results"]) == 2


def test_child_argv_replaces_the_backend_list():
    argv = ["--model", "pix2pix", "--backend", "tensorflow,jax", "--steps", "3"]
    assert train_step._child_argv(argv, "jax") == ["--model", "pix2pix", "--steps", "3", "--backend", "jax"]
    assert train_step._child_argv(["--backend=jax", "--tiny"], "tensorflow") == ["--tiny", "--backend", "tensorflow"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "pix2pixhd"],
        ["--model", "pix2pix", "--size", "100"],
        ["--model", "pix2pix", "--backend", "torch"],
        ["--model", "pix2pix", "--warmup", "0"],
        ["--model", "pix2pix", "--batch", "0"],
    ],
)
def test_bad_arguments_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as err:
        train_step.main(argv)
    assert err.value.code == 2
    assert "error" in capsys.readouterr().err


def test_benchmark_builds_the_trainer_of_the_cli():
    from i2ilab import recipes

    trainer = train_step.build_trainer("pix2pix", 16, 4, tiny=False)
    cli_nets = recipes.build_networks(recipes.arch_config("pix2pix", 16, 4, 4))
    for name, net in trainer.networks.items():
        assert net.count_params() == cli_nets[name].count_params()


# ------------------------------------------------------------------------------------------ FLOPs
def test_layer_flops_match_hand_formulas():
    inputs = keras.Input((10, 10, 3))
    conv = keras.layers.Conv2D(4, 3, strides=2, padding="valid")
    tconv = keras.layers.Conv2DTranspose(5, 2, strides=2)
    dense = keras.layers.Dense(7)
    h = conv(inputs)  # 4x4x4
    h = tconv(h)  # 8x8x5
    out = dense(keras.layers.Flatten()(h))  # 320 -> 7
    model = keras.Model(inputs, out)
    assert flops.layer_flops(conv) == 2 * 4 * 4 * 4 * (3 * 3 * 3)
    assert flops.layer_flops(tconv) == 2 * 4 * 4 * 4 * (2 * 2 * 5)
    assert flops.layer_flops(dense) == 2 * 320 * 7
    assert flops.network_flops(model) == 3456 + 2560 + 4480
    up = keras.Sequential([keras.Input((4, 6, 3)), L.UpsampleConvBlock(4, 5, name="up")])
    # phases: 3x3 conv, 4 x 4 outputs on the 4x6 input; border: 1 row/col on each side of 8x12
    phase, border = 2 * 4 * 6 * (3 * 3 * 3) * (4 * 4), 2 * (2 * 1 * (8 + 12)) * (5 * 5 * 3) * 4
    assert flops.network_flops(up) == phase + border


def _unet_flops_by_hand(size, c_in, c_out, ngf):
    n = int(math.log2(size))
    widths = [ngf * min(2**i, 8) for i in range(n)]
    total, prev = 0, c_in
    for i, w in enumerate(widths):  # 4x4 stride-2 convs, output size / 2**(i + 1)
        total += 2 * (size // 2 ** (i + 1)) ** 2 * w * 16 * prev
        prev = w
    for i in reversed(range(n)):  # 4x4 stride-2 transposed convs on size / 2**(i + 1) inputs
        cin = widths[i] if i == n - 1 else 2 * widths[i]
        cout = c_out if i == 0 else widths[i - 1]
        total += 2 * (size // 2 ** (i + 1)) ** 2 * cin * 16 * cout
    return total


def test_unet_and_patchgan_flops_match_hand_formulas():
    g = models.unet_generator(64, 3, 3, 8)
    assert flops.network_flops(g) == _unet_flops_by_hand(64, 3, 3, 8)
    d = models.patch_discriminator(64, 6, 8, 3)
    # 64 -> 32 -> 16 -> 8 (stride 2, pad 1), then 7x7 and 6x6 maps (stride 1, pad 1)
    by_hand = 2 * 16 * (32 * 32 * 8 * 6 + 16 * 16 * 16 * 8 + 8 * 8 * 32 * 16 + 7 * 7 * 64 * 32 + 6 * 6 * 1 * 64)
    assert flops.network_flops(d) == by_hand


def test_step_flops_follow_the_update_order():
    g = models.unet_generator(32, 3, 3, 8)
    d = models.patch_discriminator(32, 6, 8, 2)
    fg, fd = flops.network_flops(g), flops.network_flops(d)
    step = flops.step_flops("pix2pix", {"generator": g, "discriminator": d}, batch=4)
    # G: forward + backward (3x); D: real and fake trained (2 x 3x) + once in the G step (2x)
    assert step["per_part"] == {"generator": 4 * 3 * fg, "discriminator": 4 * 8 * fd}
    assert step["total"] == 4 * (3 * fg + 8 * fd)
    gens = [models.resnet_generator(32, ngf=8, n_blocks=1, name=n) for n in ("a", "b")]
    discs = [models.patch_discriminator(32, 3, 8, 2, norm="instance", name=n) for n in ("c", "e")]
    nets = dict(zip(("g_ab", "g_ba", "d_a", "d_b"), gens + discs, strict=False))
    cg = flops.step_flops("cyclegan", nets)
    assert cg["total"] == 18 * flops.network_flops(gens[0]) + 16 * flops.network_flops(discs[0])


@pytest.mark.skipif(BACKEND != "jax", reason="XLA's cost analysis is read through jax")
@pytest.mark.parametrize("name", ["resnet", "multiscale", "upsample"])
def test_flops_agree_with_xla_cost_analysis(name):
    import jax

    if name == "resnet":
        net, shape = models.resnet_generator(64, ngf=16, n_blocks=2), (1, 64, 64, 3)
    elif name == "upsample":
        shape = (1, 16, 16, 32)
        blocks = [L.UpsampleConvBlock(16, 5, norm="layer", activation="relu"), L.UpsampleConvBlock(8, 5)]
        net = keras.Sequential([keras.Input(shape[1:]), *blocks])
    else:
        net, shape = models.multiscale_discriminator(64, dim=16, num_scales=3), (1, 64, 64, 3)

    def forward(values, x):
        with keras.StatelessScope(state_mapping=list(zip(net.variables, values, strict=False))):
            return net(x, training=False)

    compiled = jax.jit(forward).lower([v.value for v in net.variables], np.zeros(shape, "float32")).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # XLA also counts the element-wise ops (norms, activations): a few percent more.
    assert flops.network_flops(net) == pytest.approx(cost["flops"], rel=0.05)


# ------------------------------------------------------------------------------ mixed precision
def _gan(kind, policy, weights=None):
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        if kind == "pix2pix":
            nets = [models.unet_generator(32, 3, 3, 16, dropout=False), models.patch_discriminator(32, 6, 16, 2)]
        elif kind == "cyclegan":
            nets = [models.resnet_generator(32, ngf=16, n_blocks=2, name=n) for n in ("g_ab", "g_ba")]
            nets += [models.patch_discriminator(32, 3, 16, 2, norm="instance", name=n) for n in ("d_a", "d_b")]
        else:
            nets = [models.munit_generator(32, dim=8, n_res=1, mlp_dim=32, name=n) for n in ("gen_a", "gen_b")]
            nets += [models.multiscale_discriminator(32, dim=8, num_scales=2, name=n) for n in ("dis_a", "dis_b")]
        if weights is not None:
            for net, w in zip(nets, weights, strict=False):
                net.set_weights(w)
        initial = [n.get_weights() for n in nets]
        if kind == "pix2pix":
            trainer = training.Pix2Pix(*nets, seed=0)
        elif kind == "cyclegan":
            trainer = training.CycleGAN(*nets, image_shape=(32, 32, 3), seed=0)
        else:
            trainer = training.MUNIT(*nets, seed=0)
        trainer.compile()
        rng = np.random.default_rng(0)
        x, y = (rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32") for _ in range(2))
        logs = [trainer.train_on_batch(x, y, return_dict=True) for _ in range(2)]
        return initial, [{k: float(v) for k, v in step.items()} for step in logs]
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pix2pix", "cyclegan", "munit"])
def test_mixed_bfloat16_step_is_close_to_float32(kind):
    """bfloat16 keeps 8 significant bits (unit roundoff 2**-9 = 0.2%). The first step starts from
    identical weights, so its losses differ only by rounding in the forward pass; they are means
    over many elements, measured within 0.3% (LSGAN's squared logits double the relative error),
    so 1% is 5 roundoffs of margin. The second step's losses also carry the different first
    update (Adam's first step is lr * sign(g), and gradients that are ~0, e.g. of conv biases
    before InstanceNorm, flip sign under rounding): measured within 1.5%, allowed 5%."""
    init, ref = _gan(kind, "float32")
    _, mixed = _gan(kind, "mixed_bfloat16", init)
    for step, rtol in zip(range(2), (1e-2, 5e-2), strict=False):
        assert set(mixed[step]) == set(ref[step])
        for name, value in mixed[step].items():
            assert math.isfinite(value), (step, name)
            assert value == pytest.approx(ref[step][name], rel=rtol), (step, name)


# ------------------------------------------------------------------------------ measured variants
@pytest.fixture(scope="module")
def variant_nets():
    keras.utils.set_random_seed(3)
    return {
        "unet": (models.unet_generator(32, 3, 3, 8), (2, 32, 32, 3)),
        "resnet": (models.resnet_generator(32, ngf=8, n_blocks=1), (2, 32, 32, 3)),
        "patchgan": (models.patch_discriminator(32, 6, 8, 2), (2, 32, 32, 6)),
        "munit": (models.munit_generator(32, dim=8, n_res=1, mlp_dim=16), (2, 32, 32, 3)),
    }


@pytest.mark.parametrize(
    "variant, rtol",
    [("lrelu-max", 0.0), ("same-pad", 1e-5), ("tconv-same", 1e-5), ("tconv-subpixel", 1e-5), ("in-onepass", 1e-4)],
)
def test_variants_compute_the_same_networks(variant, rtol, variant_nets):
    """The speed variants measured in benchmarks/RESULTS.md change no weights and (up to float
    rounding) no outputs; in-onepass's E[x^2] - E[x]^2 loses a few digits, hence its looser bound."""
    rng = np.random.default_rng(0)
    for name, (net, shape) in variant_nets.items():
        x = rng.uniform(-1, 1, shape).astype("float32")
        ref = keras.ops.convert_to_numpy(net(x, training=True))
        with train_step.applied_variants([variant]):
            out = keras.ops.convert_to_numpy(net(x, training=True))
        scale = np.abs(ref).max()
        assert np.abs(out - ref).max() <= rtol * scale + 1e-7 * scale, (variant, name)


@pytest.mark.parametrize("k, padding, output_padding", [(4, 1, 0), (3, 1, 1)])
def test_subpixel_transposed_conv_equals_the_cropped_transposed_conv(k, padding, output_padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6, 3)).astype("float32")
    kernel = rng.standard_normal((k, k, 7, 3)).astype("float32")  # (kh, kw, out, in)
    full = keras.ops.convert_to_numpy(keras.ops.conv_transpose(x, kernel, strides=2, padding="valid"))
    end = padding - output_padding  # torch: crop `padding` at the start, `padding - op` at the end
    ref = full[:, padding : full.shape[1] - end, padding : full.shape[2] - end, :]
    out = keras.ops.convert_to_numpy(train_step._tconv_subpixel(x, kernel, padding, output_padding))
    assert out.shape == ref.shape == (2, 10, 12, 7)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.tf_only
@pytest.mark.parametrize("variant", ["adam-keras", "adam-xla"])
def test_adam_variants_update_like_keras_adam(variant):
    import tensorflow as tf

    from i2ilab.training import backend as shim
    from i2ilab.training import default_adam

    rng = np.random.default_rng(2)
    start = [rng.standard_normal(s).astype("float32") for s in ((3, 3, 4, 5), (5,), (7, 2))]
    grads = [[tf.constant(rng.standard_normal(x.shape).astype("float32")) for x in start] for _ in range(3)]

    def run(patched):
        variables = [keras.Variable(x) for x in start]
        optimizer = default_adam(1e-2)
        optimizer.build(variables)
        with train_step.applied_variants([variant] if patched else []):
            step = tf.function(lambda g: shim.apply_gradients(optimizer, g, variables))
            for g in grads:
                step(g)
        moments = [keras.ops.convert_to_numpy(m) for m in optimizer.variables[1:]]
        return [keras.ops.convert_to_numpy(v) for v in variables], moments, int(optimizer.iterations)

    assert shim._plain_adam(default_adam(), [keras.Variable(x) for x in start])  # the trainers' default is fused
    ref, ref_moments, ref_steps = run(False)
    out, out_moments, out_steps = run(True)
    assert out_steps == ref_steps == 3
    for a, b in zip(out + out_moments, ref + ref_moments, strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.abs(ref[0] - start[0]).max() > 1e-3  # the updates did move the weights


# ------------------------------------------------------------------- PyTorch calibration step
def test_torch_step_networks_have_the_reference_sizes(capsys):
    """benchmarks.torch_step re-creates the reference networks: their parameter counts are the
    published ones (shared/REFERENCE.md section 1), and a step at 32 px runs and prints a line."""
    torch = pytest.importorskip("torch")
    from benchmarks import torch_step

    resnet, patchgan, unet = torch_step._nets(torch)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(resnet(9)) == 11_378_179
    assert count(patchgan(3, torch.nn.InstanceNorm2d)) == 2_764_737
    assert count(patchgan(6, torch.nn.BatchNorm2d)) == 2_768_705
    assert count(unet(8)) == 54_413_955
    generator, discriminator = torch_step._munit_nets(torch)
    g = generator()
    assert (count(g), count(g.style), count(g.content), count(g.mlp)) == (15_026_187, 2_764_936, 5_385_856, 1_120_768)
    assert count(discriminator()) == 8_271_171
    results = torch_step.main(["--model", "pix2pix,cyclegan,munit", "--size", "32", "--steps", "1", "--repeat", "1"])
    assert [r["model"] for r in results] == ["pix2pix", "cyclegan", "munit"]
    assert all(r["median_s"] > 0 for r in results)
    assert capsys.readouterr().out.count("s/step") == 3
