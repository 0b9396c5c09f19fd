"""Time a PyTorch training step of the pix2pix and CycleGAN reference networks on this machine.

    python -m benchmarks.torch_step --model pix2pix,cyclegan --size 256 --steps 3 --repeat 2

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
Timing as ``benchmarks.train_step``: fixed random inputs, the first ``--warmup`` steps untimed,
then the median over ``--repeat`` x ``--steps`` steps.
"""

import argparse
import statistics
import time


def _nets(torch):
    nn = torch.nn

    class ResnetBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.body = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
            )

        def forward(self, x):
            return x + self.body(x)

    def resnet_generator(n_blocks, ngf=64):
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
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
                layers = [nn.LeakyReLU(0.2, True), down, nn.BatchNorm2d(width), inner,
                          nn.ReLU(True), up, nn.BatchNorm2d(outer)]
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
        g, d = unet(size.bit_length() - 1), patchgan(6, nn.BatchNorm2d)
        opt_g, opt_d = adam(g.parameters()), adam(d.parameters())
        bce = nn.BCEWithLogitsLoss()

        def step():
            fake = g(a)
            opt_d.zero_grad()
            real_logits, fake_logits = d(torch.cat([a, b], 1)), d(torch.cat([a, fake.detach()], 1))
            loss_d = 0.5 * (bce(real_logits, torch.ones_like(real_logits))
                            + bce(fake_logits, torch.zeros_like(fake_logits)))
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            logits = d(torch.cat([a, fake], 1))
            loss_g = bce(logits, torch.ones_like(logits)) + 100.0 * l1(fake, b)
            loss_g.backward()
            opt_g.step()
            return float(loss_g) + float(loss_d)

        return step
    if model != "cyclegan":
        raise ValueError(f"benchmarks.torch_step: --model {model!r}: use pix2pix or cyclegan.")
    blocks = 9 if size >= 256 else 6
    g_ab, g_ba = resnet_generator(blocks), resnet_generator(blocks)
    d_a, d_b = patchgan(3, nn.InstanceNorm2d), patchgan(3, nn.InstanceNorm2d)
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
        loss_g = (lsgan(d_b(fake_b), 1.0) + lsgan(d_a(fake_a), 1.0)
                  + 10.0 * (l1(rec_a, a) + l1(rec_b, b)) + 5.0 * (l1(idt_a, a) + l1(idt_b, b)))
        loss_g.backward()
        opt_g.step()
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad()
        loss_d = 0.5 * (lsgan(d_b(b), 1.0) + lsgan(d_b(fake_b.detach()), 0.0)) + 0.5 * (
            lsgan(d_a(a), 1.0) + lsgan(d_a(fake_a.detach()), 0.0))
        loss_d.backward()
        opt_d.step()
        return float(loss_g) + float(loss_d)

    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="pix2pix,cyclegan", help="comma list: pix2pix, cyclegan")
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
            print(f"torch {model:9s} {size:4d}px b1  median {median:.4f} s/step (min {min(times):.4f}, "
                  f"max {max(times):.4f}; {len(times)} steps, torch {torch.__version__}, "
                  f"{torch.get_num_threads()} threads)", flush=True)
    return results


if __name__ == "__main__":
    main()
