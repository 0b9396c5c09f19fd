"""Task recipes: size rules, architecture dicts, networks and trainers per model name."""

import pytest

from i2ilab import recipes
from i2ilab.errors import UsageError


def test_arch_config_adapts_to_small_images():
    assert recipes.arch_config("pix2pix", 256)["n_layers_d"] == 3
    assert recipes.arch_config("pix2pix", 16)["n_layers_d"] == 2
    assert recipes.arch_config("cyclegan", 128)["n_blocks"] == 6
    assert recipes.arch_config("munit", 256)["num_scales"] == 3
    assert recipes.arch_config("munit", 32)["num_scales"] == 2
    with pytest.raises(UsageError, match="at most 2"):
        recipes.arch_config("pix2pix", 16, n_layers_d=3)
    with pytest.raises(UsageError, match=r"--image-size 30: cyclegan needs a multiple of 4 >= 16"):
        recipes.arch_config("cyclegan", 30)
    with pytest.raises(UsageError, match=r"--image-size 48: pix2pix needs a power of two >= 16 \(16, 32, 64"):
        recipes.arch_config("pix2pix", 48)
    with pytest.raises(UsageError, match="unknown model"):
        recipes.arch_config("nosuchmodel", 256)


def test_size_rules():
    sizes = (16, 32, 64, 128, 256, 512)
    assert [recipes.max_patch_layers(s) for s in sizes] == [2, 3, 4, 5, 6, 7]
    assert [recipes.patch_layers(s) for s in sizes] == [2, 3, 3, 3, 3, 3]
    assert [recipes.resnet_blocks(s) for s in sizes] == [6, 6, 6, 6, 9, 9]
    assert [recipes.munit_scales(s) for s in sizes] == [1, 2, 3, 3, 3, 3]
    for size in sizes:  # the deepest PatchGAN keeps a logit map, one more layer would not
        n = recipes.max_patch_layers(size)
        assert size / 2**n - 2 >= 1 > size / 2 ** (n + 1) - 2


@pytest.mark.parametrize("model", recipes.MODELS)
def test_every_model_builds_its_networks_and_trainer(model):
    cfg = recipes.arch_config(model, {"bicyclegan": 32, "discogan": 64}.get(model, 16), 4, 4)
    if model == "munit":
        cfg.update(n_res=1, mlp_dim=8)
    if model == "distancegan":
        cfg.update(stats_a=[0.2, 0.03], stats_b=[0.25, 0.04])
    if model == "pix2pixhd":
        cfg.update(vgg_loss=False)  # no ImageNet VGG19 download in tests
    trainer = recipes.build_trainer(cfg, seed=0, lr=1e-3)
    # CUT's trainer also holds its patch sampler F, created from the generator's NCE layers.
    assert sorted(set(trainer.networks) - {"patch_sampler"}) == sorted(recipes.build_networks(cfg))
    assert float(trainer.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert set(recipes.TRANSLATORS.get(model, {}).values()) <= set(trainer.networks)
    assert model in recipes.SYNTHETIC and callable(recipes.dataset_loader(model))
