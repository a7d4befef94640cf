import torch

from treediff.codefusion.schedule import SqrtSchedule


def test_alpha_bar_decreases_from_clean_to_noise():
    s = SqrtSchedule(1200)
    a = s.alphas_cumprod
    assert a[0] > 0.98 and a[-1] < 1e-3
    assert torch.all(a[1:] <= a[:-1])


def test_add_noise_and_step_contract():
    torch.manual_seed(0)
    s = SqrtSchedule(100)
    x0 = torch.randn(2, 5, 4)
    noise = torch.randn_like(x0)
    t = torch.tensor([1, 100])
    xt = s.add_noise(x0, noise, t)
    assert xt.shape == x0.shape
    assert torch.allclose(s.eps_from_x0(xt, x0, t), noise, atol=1e-3)
    steps = s.set_timesteps(5)
    assert steps.tolist()[0] == 100 and steps.tolist()[-1] == 1 and len(steps) == 5
    # the last respaced step returns the clean prediction itself
    assert torch.equal(s.step(x0, 1, xt), x0)
    # an exact x0 prediction keeps the trajectory on the forward-process mean
    x = s.add_noise(x0, noise, torch.tensor([100, 100]))
    x = s.step(x0, 100, x)
    assert x.shape == x0.shape
