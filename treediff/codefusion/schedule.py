"""Noise schedules for embedding diffusion, apart from the networks (diffusers-style contract).

``add_noise`` is used by training, ``set_timesteps`` + ``step`` by sampling; swapping the
schedule never touches a model.
"""

from __future__ import annotations

import math

import torch


class SqrtSchedule:
    """The sqrt schedule of Diffusion-LM / CodeFusion: ``alpha_bar(t) = 1 - sqrt(t/T + s)``.

    Noise rises quickly at small ``t``, which suits embeddings where a little noise already
    leaves the nearest token unambiguous.
    """

    def __init__(self, num_train_steps: int = 1200, offset: float = 1e-4):
        self.num_train_steps = num_train_steps
        t = torch.arange(num_train_steps + 1, dtype=torch.float64) / num_train_steps
        alpha_bar = (1.0 - torch.sqrt(t + offset)).clamp(min=1e-5, max=1.0)
        self.alphas_cumprod = alpha_bar.float()  # index 0 = clean, index T = pure noise
        self.timesteps = torch.arange(num_train_steps, 0, -1)

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod.to(t.device)[t]

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward process q(x_t | x_0) for integer steps ``t`` of shape (batch,)."""
        a = self.alpha_bar(t).view(-1, *([1] * (x0.dim() - 1)))
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def set_timesteps(self, num_inference_steps: int) -> torch.Tensor:
        """Respaced sampling: ``num_inference_steps`` evenly spaced steps from T down to 1."""
        n = max(1, min(num_inference_steps, self.num_train_steps))
        steps = torch.linspace(self.num_train_steps, 1, n).round().long()
        self.timesteps = torch.unique_consecutive(steps)
        return self.timesteps

    def prev_timestep(self, t: int) -> int:
        idx = (self.timesteps == t).nonzero()
        i = int(idx[0, 0]) if len(idx) else len(self.timesteps) - 1
        return int(self.timesteps[i + 1]) if i + 1 < len(self.timesteps) else 0

    def eps_from_x0(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alpha_bar(t).view(-1, *([1] * (x0.dim() - 1)))
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt().clamp(min=1e-4)

    def x0_from_eps(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alpha_bar(t).view(-1, *([1] * (x_t.dim() - 1)))
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt().clamp(min=math.sqrt(1e-3))

    def step(self, x0_pred: torch.Tensor, t: int, x_t: torch.Tensor) -> torch.Tensor:
        """Deterministic (DDIM, eta=0) move from step ``t`` to the previous respaced step."""
        prev = self.prev_timestep(t)
        tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        eps = self.eps_from_x0(x_t, x0_pred, tt)
        if prev == 0:
            return x0_pred
        a_prev = float(self.alphas_cumprod[prev])
        return math.sqrt(a_prev) * x0_pred + math.sqrt(1 - a_prev) * eps


SCHEDULES = {"sqrt": SqrtSchedule}


def make_schedule(name: str, num_train_steps: int):
    from ..errors import TreediffError

    if name not in SCHEDULES:
        raise TreediffError(f"could not resolve schedule {name!r} among choices {sorted(SCHEDULES)}")
    return SCHEDULES[name](num_train_steps)
