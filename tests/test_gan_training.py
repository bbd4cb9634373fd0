"""The maths of train-gan (losses, gradient penalty, weight averaging, growth schedule), its networks, the kernel
distance and the trained-generator file."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentedit.core import gan_training as gt
from latentedit.core.kernel_distance import kernel_distance
from latentedit.models.discriminators import PGGANDiscriminator, minibatch_stddev
from latentedit.models.gan import GlobalBatchNorm2d, build_networks, pggan_channels
from latentedit.models.generators.pggan import PGGANGenerator


def test_nonsaturating_losses_are_the_tutorials_bce():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2, 1.0])
    bce = F.binary_cross_entropy
    expected_d = bce(real.sigmoid(), torch.ones(3)) + bce(fake.sigmoid(), torch.zeros(3))
    torch.testing.assert_close(gt.nonsaturating_d_loss(real, fake), expected_d)
    torch.testing.assert_close(gt.nonsaturating_g_loss(fake), bce(fake.sigmoid(), torch.ones(3)))
    # the generator gains by fooling the discriminator: its loss falls as the fakes' logits rise
    assert gt.nonsaturating_g_loss(fake + 1) < gt.nonsaturating_g_loss(fake)
    assert gt.nonsaturating_d_loss(real + 1, fake - 1) < gt.nonsaturating_d_loss(real, fake)


def test_wgan_losses_and_gradient_penalty_of_a_linear_critic():
    weight = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    critic = lambda x: (x * weight).flatten(1).sum(1)  # noqa: E731 (its gradient is `weight` everywhere)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    penalty = gt.gradient_penalty(critic, real, fake, mix=torch.rand(5))
    torch.testing.assert_close(penalty, (weight.norm() - 1) ** 2)
    scores_real, scores_fake = critic(real), critic(fake)
    expected = scores_fake.mean() - scores_real.mean() + 10 * penalty + 0.001 * scores_real.square().mean()
    torch.testing.assert_close(gt.wgan_gp_d_loss(scores_real, scores_fake, penalty=penalty), expected)
    assert gt.wgan_g_loss(scores_fake) == -scores_fake.mean()
    with pytest.raises(ValueError, match="mix"):
        gt.gradient_penalty(critic, real, fake, mix=torch.rand(4))


def test_gradient_penalty_reaches_the_critics_weights():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    penalty = gt.gradient_penalty(
        lambda x: critic(x).flatten(), torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2), mix=torch.rand(4)
    )
    penalty.backward()
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0


def test_ema_update_and_half_life():
    model, average = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.running_mean.fill_(4.0)
        model.num_batches_tracked.fill_(7)
    gt.ema_update(average, model, beta=0.75)
    torch.testing.assert_close(average.weight, torch.full((3,), 0.75 * 1.0 + 0.25 * 2.0))
    torch.testing.assert_close(average.running_mean, torch.full((3,), 0.25 * 4.0))
    assert average.num_batches_tracked.item() == 7
    beta = gt.ema_beta(batch=64, images_seen=10**6, half_life_images=10_000)
    assert beta ** (10_000 / 64) == pytest.approx(0.5)
    # early on the half-life is 5 % of the images seen, so the average follows the generator closely
    assert gt.ema_beta(batch=64, images_seen=2560, half_life_images=10_000) ** (128 / 64) == pytest.approx(0.5)
    assert gt.ema_beta(batch=64, images_seen=0, half_life_images=10_000) == 0.0
    with pytest.raises(ValueError, match="beta"):
        gt.ema_update(average, model, beta=1.5)


def test_growth_schedule():
    schedule = gt.GrowthSchedule(final_resolution=32, stable_images=100, fade_images=50)
    assert schedule.levels == 3 and schedule.grown_images == 450
    assert [schedule.lod(n) for n in (0, 99, 100, 125, 150, 250, 275, 450, 10_000)] == [3, 3, 3, 2.5, 2, 2, 1.5, 0, 0]
    assert [schedule.resolution(n) for n in (0, 125, 150, 449, 450)] == [4, 8, 8, 32, 32]
    with pytest.raises(ValueError, match="final_resolution"):
        gt.GrowthSchedule(48, 10, 10)


def test_fade_reals_blends_the_coarser_version():
    images = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(gt.fade_reals(images, lod=0.0), images)
    torch.testing.assert_close(gt.fade_reals(images, lod=2.0), F.avg_pool2d(images, 4))
    half = F.avg_pool2d(images, 2)
    coarse = F.interpolate(F.avg_pool2d(half, 2), scale_factor=2, mode="nearest")
    torch.testing.assert_close(gt.fade_reals(images, lod=1.25), torch.lerp(half, coarse, 0.25))


def test_minibatch_stddev_uses_consecutive_groups():
    x = torch.randn(8, 5, 2, 2)
    out = minibatch_stddev(x, group=4)
    assert out.shape == (8, 6, 2, 2)
    torch.testing.assert_close(out[:, :5], x)
    first = x[:4].std(0, unbiased=False).mean()
    torch.testing.assert_close(out[:4, 5], first.expand(4, 2, 2), rtol=1e-4, atol=1e-6)
    # the same groups when the batch is split in halves, as across two processes
    torch.testing.assert_close(torch.cat([minibatch_stddev(x[:4]), minibatch_stddev(x[4:])]), out)
    assert minibatch_stddev(torch.randn(6, 2, 1, 1)).shape == (6, 3, 1, 1)  # groups of 2 when 4 does not divide 6


def _pggan(channels: list[int], seed: int = 0) -> PGGANGenerator:
    generator = PGGANGenerator("t", channels)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(seed)) * 0.5)
            seed += 1
        generator.lod.zero_()
    return generator.eval()


def test_pggan_lod_renders_the_smaller_network_and_fades_linearly():
    big = _pggan([16, 16, 16, 8])  # 16x16
    codes = torch.randn(3, 16)
    # at lod 1 the last block is skipped: the same as a 8x8 network with the first blocks' weights, enlarged
    state = {k: v for k, v in big.state_dict().items() if not k.startswith(("layer4", "layer5", "output2"))}
    small = PGGANGenerator.from_state_dict("s", state).eval()
    with torch.no_grad():
        big.lod.fill_(1.0)
        at_one = big.synthesize(codes)
        torch.testing.assert_close(at_one, F.interpolate(small.synthesize(codes), scale_factor=2, mode="nearest"))
        big.lod.fill_(0.0)
        at_zero = big.synthesize(codes)
        big.lod.fill_(0.3)
        torch.testing.assert_close(big.synthesize(codes), torch.lerp(at_zero, at_one, 0.3))
        assert big.synthesize_lod(codes).shape[-1] == 16
        big.lod.fill_(1.3)
        assert big.synthesize_lod(codes).shape[-1] == 8


def test_pggan_discriminator_takes_each_resolution_and_fades():
    assert pggan_channels(64) == [512, 512, 512, 512, 512, 256]  # Karras et al.'s widths (InterFaceGAN's table)
    assert pggan_channels(1024)[-3:] == [64, 32, 16] and pggan_channels(64, width=32) == [32] * 5 + [16]
    critic = PGGANDiscriminator([16, 16, 16, 8])
    for lod, size in ((2.0, 4), (1.5, 8), (1.0, 8), (0.25, 16), (0.0, 16)):
        assert critic(torch.randn(4, 3, size, size), lod).shape == (4,)
    with pytest.raises(ValueError, match="must be 8 pixels"):
        critic(torch.randn(4, 3, 16, 16), 1.0)
    images = torch.randn(4, 3, 8, 8)
    # a fade that has barely started scores almost as the coarser network does
    coarse_only = critic(F.avg_pool2d(images, 2), 2.0)
    torch.testing.assert_close(critic(images, 1.999999), coarse_only, rtol=1e-3, atol=1e-4)


def test_networks_are_seeded_and_dcgan_matches_the_embedded_generator(dcgan):
    g1, d1 = build_networks("dcgan", 64, width=512, seed=3)
    g2, _ = build_networks("dcgan", 64, width=512, seed=3)
    g3, _ = build_networks("dcgan", 64, width=512, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    assert not torch.equal(g1.main[0].weight, g3.main[0].weight)
    assert {k: v.shape for k, v in g1.state_dict().items()} == {k: v.shape for k, v in dcgan.state_dict().items()}
    assert abs(float(g1.main[0].weight.detach().std()) - 0.02) < 0.002  # the tutorial's N(0, 0.02)
    assert d1(torch.randn(2, 3, 64, 64)).shape == (2,)
    with pytest.raises(ValueError, match="64"):
        build_networks("dcgan", 128, width=512, seed=0)


def test_global_batch_norm_is_batch_norm_in_one_process():
    plain = nn.BatchNorm2d(4)
    synced = GlobalBatchNorm2d(4)
    synced.load_state_dict(plain.state_dict())
    x = torch.randn(6, 4, 3, 3)
    torch.testing.assert_close(synced(x), plain(x))
    torch.testing.assert_close(synced.running_var, plain.running_var)


def test_kernel_distance():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same, spread = kernel_distance(a, b, subsets=20, subset_size=200)
    shifted, _ = kernel_distance(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 3 * spread + 1e-3 and shifted > 20 * max(abs(same), spread)
    # one subset of all rows: the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, written out
    x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    k = lambda p, q: (p @ q / 2 + 1) ** 3  # noqa: E731
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(3) for j in range(3) if i != j) / 6
    across = sum(k(x[i], y[j]) for i in range(3) for j in range(3)) / 9
    assert kernel_distance(x, y, subsets=1, subset_size=3)[0] == pytest.approx(within - 2 * across)
    with pytest.raises(ValueError, match="same d"):
        kernel_distance(a, b[:, :3])
