"""Time a PyTorch training step of the pix2pix, CycleGAN and MUNIT reference networks here.

    python -m benchmarks.torch_step --model pix2pix,cyclegan,munit --size 256 --steps 3 --repeat 2

The issue's reference figures (shared/REFERENCE.md section 7) were measured once, with the
official code, at another time; this 2-core machine's speed drifts by several percent between
sessions. This script re-creates the same networks and update order in PyTorch (written from
the papers' and the reference repository's published architecture, not copied) so that a
reference-like step can be timed in the same minutes as ``benchmarks.train_step``: the ratio of
the two is then free of the drift. It needs the ``torch`` extra (``pip install -e ".[torch]"``).

Networks (junyanz/pytorch-CycleGAN-and-pix2pix defaults): pix2pix = U-Net 256 (8 levels, ngf 64,
BatchNorm, dropout 0.5 in the three innermost decoder levels) + 70x70 PatchGAN (ndf 64, BatchNorm,
6 input channels), vanilla GAN + 100 L1, D step then G step; CycleGAN = two ResNet generators
(9 blocks at 256, 6 below; InstanceNorm, reflect padding) + two PatchGANs (InstanceNorm), LSGAN,
cycle 10, identity 0.5, G step then D step, D losses halved. Adam(2e-4, betas (0.5, 0.999)).
MUNIT = the edges2shoes config (two generators with dim 64, 4 residual blocks, MLP 256, style 8;
two 3-scale discriminators), LSGAN, weights 1 / 10 / 1 / 1, D step then G step with both
images encoded in each, Adam(1e-4, betas (0.5, 0.999), weight decay 1e-4).
Timing as ``benchmarks.train_step``: fixed random inputs, the first ``--warmup`` steps untimed,
then the median over ``--repeat`` x ``--steps`` steps.
"""

import argparse
import statistics
import time

from i2ilab.recipes import munit_scales, patch_layers, resnet_blocks


def _nets(torch):
    nn = torch.nn

    class ResnetBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.body = nn.Sequential(
                nn.ReflectionPad2d(1),
                nn.Conv2d(dim, dim, 3),
                nn.InstanceNorm2d(dim),
                nn.ReLU(True),
                nn.ReflectionPad2d(1),
                nn.Conv2d(dim, dim, 3),
                nn.InstanceNorm2d(dim),
            )

        def forward(self, x):
            return x + self.body(x)

    def resnet_generator(n_blocks, ngf=64):
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
                nn.InstanceNorm2d(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        return nn.Sequential(*layers)

    def patchgan(in_channels, norm, ndf=64, n_layers=3):
        bias = norm is nn.InstanceNorm2d  # no conv bias in front of BatchNorm
        layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(width, out, 4, stride, 1, bias=bias), norm(out), nn.LeakyReLU(0.2, True)]
            width = out
        layers += [nn.Conv2d(width, 1, 4, 1, 1)]
        return nn.Sequential(*layers)

    class UNetLevel(nn.Module):
        """One U-Net level around ``inner`` (None at the bottom): down, inner, up, skip concat."""

        def __init__(self, outer, width, inner=None, in_channels=None, outermost=False, dropout=False):
            super().__init__()
            in_channels = in_channels or outer
            down = nn.Conv2d(in_channels, width, 4, 2, 1, bias=False)
            self.outermost = outermost
            if outermost:
                up = nn.ConvTranspose2d(width * 2, outer, 4, 2, 1)
                self.body = nn.Sequential(down, inner, nn.ReLU(True), up, nn.Tanh())
            elif inner is None:
                up = nn.ConvTranspose2d(width, outer, 4, 2, 1, bias=False)
                self.body = nn.Sequential(nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, nn.BatchNorm2d(outer))
            else:
                up = nn.ConvTranspose2d(width * 2, outer, 4, 2, 1, bias=False)
                layers = [
                    nn.LeakyReLU(0.2, True),
                    down,
                    nn.BatchNorm2d(width),
                    inner,
                    nn.ReLU(True),
                    up,
                    nn.BatchNorm2d(outer),
                ]
                self.body = nn.Sequential(*layers + ([nn.Dropout(0.5)] if dropout else []))

        def forward(self, x):
            return self.body(x) if self.outermost else torch.cat([x, self.body(x)], 1)

    def unet(levels, ngf=64):
        block = UNetLevel(ngf * 8, ngf * 8)
        for _ in range(levels - 5):
            block = UNetLevel(ngf * 8, ngf * 8, block, dropout=True)
        for mult in (4, 2, 1):
            block = UNetLevel(ngf * mult, ngf * mult * 2, block)
        return UNetLevel(3, ngf, block, in_channels=3, outermost=True)

    return resnet_generator, patchgan, unet


def _munit_nets(torch):
    """MUNIT edges2shoes networks (Huang et al. 2018 appendix B; shared/REFERENCE.md section 1)."""
    nn, F = torch.nn, torch.nn.functional

    def block(c_in, c_out, k, s, p, norm=None, act="relu"):
        layers = [nn.ReflectionPad2d(p), nn.Conv2d(c_in, c_out, k, s)]
        layers += [norm(c_out)] if norm else []
        layers += {"relu": [nn.ReLU(True)], "lrelu": [nn.LeakyReLU(0.2, True)], "tanh": [nn.Tanh()], None: []}[act]
        return nn.Sequential(*layers)

    class LayerNorm(nn.Module):
        """MUNIT's: per sample over C, H, W, unbiased std, eps added to the std; per-channel affine."""

        def __init__(self, c):
            super().__init__()
            self.gamma, self.beta = nn.Parameter(torch.rand(c)), nn.Parameter(torch.zeros(c))

        def forward(self, x):
            flat = x.flatten(1)
            x = (x - flat.mean(1).view(-1, 1, 1, 1)) / (flat.std(1).view(-1, 1, 1, 1) + 1e-5)
            return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)

    class ResBlock(nn.Module):
        def __init__(self, dim, adain=False):
            super().__init__()
            norm = None if adain else nn.InstanceNorm2d
            self.conv1, self.conv2 = block(dim, dim, 3, 1, 1, norm, None), block(dim, dim, 3, 1, 1, norm, None)
            self.adain, self.params = adain, None

        def forward(self, x):
            h = self.conv1(x)
            h = F.relu(self._norm(h, 0))
            return x + self._norm(self.conv2(h), 1)

        def _norm(self, h, i):
            if not self.adain:
                return h
            c = h.shape[1]
            beta, gamma = self.params[:, 2 * c * i : 2 * c * i + c], self.params[:, 2 * c * i + c : 2 * c * (i + 1)]
            return F.instance_norm(h, eps=1e-5) * gamma[:, :, None, None] + beta[:, :, None, None]

    class Generator(nn.Module):
        def __init__(self, dim=64, style_dim=8, mlp_dim=256, n_res=4):
            super().__init__()
            self.style = nn.Sequential(
                block(3, dim, 7, 1, 3),
                block(dim, 2 * dim, 4, 2, 1),
                block(2 * dim, 4 * dim, 4, 2, 1),
                block(4 * dim, 4 * dim, 4, 2, 1),
                block(4 * dim, 4 * dim, 4, 2, 1),
                nn.AdaptiveAvgPool2d(1),
                nn.Conv2d(4 * dim, style_dim, 1),
            )
            norm = nn.InstanceNorm2d
            self.content = nn.Sequential(
                block(3, dim, 7, 1, 3, norm),
                block(dim, 2 * dim, 4, 2, 1, norm),
                block(2 * dim, 4 * dim, 4, 2, 1, norm),
                *[ResBlock(4 * dim) for _ in range(n_res)],
            )
            self.res = nn.ModuleList([ResBlock(4 * dim, adain=True) for _ in range(n_res)])
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2),
                block(4 * dim, 2 * dim, 5, 1, 2, LayerNorm),
                nn.Upsample(scale_factor=2),
                block(2 * dim, dim, 5, 1, 2, LayerNorm),
                block(dim, 3, 7, 1, 3, None, "tanh"),
            )
            self.mlp = nn.Sequential(
                nn.Linear(style_dim, mlp_dim),
                nn.ReLU(True),
                nn.Linear(mlp_dim, mlp_dim),
                nn.ReLU(True),
                nn.Linear(mlp_dim, n_res * 4 * 4 * dim),
            )

        def encode(self, x):
            return self.content(x), self.style(x)

        def decode(self, content, style):
            params = self.mlp(style.flatten(1))
            per_block = params.shape[1] // len(self.res)
            h = content
            for i, res in enumerate(self.res):
                res.params = params[:, i * per_block : (i + 1) * per_block]
                h = res(h)
            return self.up(h)

    class Discriminator(nn.Module):
        def __init__(self, dim=64, n_layer=4, num_scales=3):
            super().__init__()

            def scale():
                layers, width = [block(3, dim, 4, 2, 1, None, "lrelu")], dim
                for _ in range(n_layer - 1):
                    layers.append(block(width, 2 * width, 4, 2, 1, None, "lrelu"))
                    width *= 2
                return nn.Sequential(*layers, nn.Conv2d(width, 1, 1))

            self.scales = nn.ModuleList([scale() for _ in range(num_scales)])
            self.down = nn.AvgPool2d(3, 2, 1, count_include_pad=False)

        def forward(self, x):
            outs = []
            for net in self.scales:
                outs.append(net(x))
                x = self.down(x)
            return outs

    return Generator, Discriminator


def make_step(model, size):
    """A closure running one training step of ``model`` at ``size`` on fixed random inputs."""
    import torch

    resnet_generator, patchgan, unet = _nets(torch)
    nn = torch.nn
    torch.manual_seed(0)
    a = torch.rand(1, 3, size, size) * 2 - 1
    b = torch.rand(1, 3, size, size) * 2 - 1
    adam = lambda params: torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))  # noqa: E731
    l1 = nn.L1Loss()
    if model == "pix2pix":
        g, d = unet(size.bit_length() - 1), patchgan(6, nn.BatchNorm2d, n_layers=patch_layers(size))
        opt_g, opt_d = adam(g.parameters()), adam(d.parameters())
        bce = nn.BCEWithLogitsLoss()

        def step():
            fake = g(a)
            opt_d.zero_grad()
            real_logits, fake_logits = d(torch.cat([a, b], 1)), d(torch.cat([a, fake.detach()], 1))
            loss_d = 0.5 * (
                bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
            )
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            logits = d(torch.cat([a, fake], 1))
            loss_g = bce(logits, torch.ones_like(logits)) + 100.0 * l1(fake, b)
            loss_g.backward()
            opt_g.step()
            return loss_g.detach().item() + loss_d.detach().item()

        return step
    if model == "munit":
        return _munit_step(torch, a, b, size)
    if model != "cyclegan":
        raise ValueError(f"benchmarks.torch_step: --model {model!r}: use pix2pix, cyclegan or munit.")
    g_ab, g_ba = resnet_generator(resnet_blocks(size)), resnet_generator(resnet_blocks(size))
    d_a, d_b = (patchgan(3, nn.InstanceNorm2d, n_layers=patch_layers(size)) for _ in range(2))
    opt_g = adam(list(g_ab.parameters()) + list(g_ba.parameters()))
    opt_d = adam(list(d_a.parameters()) + list(d_b.parameters()))
    mse = nn.MSELoss()

    def lsgan(logits, target):
        return mse(logits, torch.full_like(logits, target))

    def step():
        fake_b, fake_a = g_ab(a), g_ba(b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(False)
        opt_g.zero_grad()
        idt_a, idt_b = g_ba(a), g_ab(b)  # G_BA keeps A images, G_AB keeps B images
        loss_g = (
            lsgan(d_b(fake_b), 1.0)
            + lsgan(d_a(fake_a), 1.0)
            + 10.0 * (l1(rec_a, a) + l1(rec_b, b))
            + 5.0 * (l1(idt_a, a) + l1(idt_b, b))
        )
        loss_g.backward()
        opt_g.step()
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad()
        loss_d = 0.5 * (lsgan(d_b(b), 1.0) + lsgan(d_b(fake_b.detach()), 0.0)) + 0.5 * (
            lsgan(d_a(a), 1.0) + lsgan(d_a(fake_a.detach()), 0.0)
        )
        loss_d.backward()
        opt_d.step()
        return loss_g.detach().item() + loss_d.detach().item()

    return step


def _munit_step(torch, a, b, size):
    """MUNIT trainer order: D step on fakes from fresh styles, then the G step (encode twice)."""
    Generator, Discriminator = _munit_nets(torch)
    gen_a, gen_b = Generator(), Generator()
    dis_a, dis_b = Discriminator(num_scales=munit_scales(size)), Discriminator(num_scales=munit_scales(size))
    adam = lambda params: torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)  # noqa: E731
    opt_g = adam(list(gen_a.parameters()) + list(gen_b.parameters()))
    opt_d = adam(list(dis_a.parameters()) + list(dis_b.parameters()))
    l1 = lambda x, y: torch.mean(torch.abs(x - y))  # noqa: E731

    def d_loss(dis, fake, real):
        return sum(torch.mean(f**2) + torch.mean((r - 1) ** 2) for f, r in zip(dis(fake), dis(real), strict=False))

    def g_adv(dis, fake):
        return sum(torch.mean((f - 1) ** 2) for f in dis(fake))

    def step():
        s_a, s_b = torch.randn(1, 8, 1, 1), torch.randn(1, 8, 1, 1)
        opt_d.zero_grad()
        c_a, _ = gen_a.encode(a)
        c_b, _ = gen_b.encode(b)
        x_ba, x_ab = gen_a.decode(c_b, s_a), gen_b.decode(c_a, s_b)
        loss_d = d_loss(dis_a, x_ba.detach(), a) + d_loss(dis_b, x_ab.detach(), b)
        loss_d.backward()
        opt_d.step()
        s_a, s_b = torch.randn(1, 8, 1, 1), torch.randn(1, 8, 1, 1)
        opt_g.zero_grad()
        c_a, s_a_prime = gen_a.encode(a)
        c_b, s_b_prime = gen_b.encode(b)
        x_a_recon, x_b_recon = gen_a.decode(c_a, s_a_prime), gen_b.decode(c_b, s_b_prime)
        x_ba, x_ab = gen_a.decode(c_b, s_a), gen_b.decode(c_a, s_b)
        c_b_recon, s_a_recon = gen_a.encode(x_ba)
        c_a_recon, s_b_recon = gen_b.encode(x_ab)
        loss_g = (
            g_adv(dis_a, x_ba)
            + g_adv(dis_b, x_ab)
            + 10 * (l1(x_a_recon, a) + l1(x_b_recon, b))
            + l1(s_a_recon, s_a)
            + l1(s_b_recon, s_b)
            + l1(c_a_recon, c_a)
            + l1(c_b_recon, c_b)
        )
        loss_g.backward()
        opt_g.step()
        return loss_g.detach().item() + loss_d.detach().item()

    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="pix2pix,cyclegan,munit", help="comma list: pix2pix, cyclegan, munit")
    p.add_argument("--size", default="256", help="comma list of image sizes")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    results = []
    for model in args.model.split(","):
        for size in (int(s) for s in args.size.split(",")):
            step = make_step(model, size)
            for _ in range(args.warmup):
                step()
            times = []
            for _ in range(args.repeat * args.steps):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            results.append({"model": model, "size": size, "median_s": median})
            print(
                f"torch {model:9s} {size:4d}px b1  median {median:.4f} s/step (min {min(times):.4f}, "
                f"max {max(times):.4f}; {len(times)} steps, torch {torch.__version__}, "
                f"{torch.get_num_threads()} threads)",
                flush=True,
            )
    return results


if __name__ == "__main__":
    main()
