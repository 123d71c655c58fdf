"""Tiny models and a quickly trained motion classifier for the attack tests (no other packages)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

CLIP = (3, 4, 16, 16)  # C, T, H, W
NUM_CLASSES = 4


class TinyConv3d(nn.Module):
    """Small 3D CNN on [0, 1] pixels (normalisation inside, like the real wrappers)."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 8) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.45, 0.45, 0.45]).reshape(1, 3, 1, 1, 1))
        self.body = nn.Sequential(
            nn.Conv3d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm3d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(2 * width, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body((x - self.mean) / 0.25)


class LinearModel(nn.Module):
    """Logits = W x + b on the flattened clip: FGSM/PGD optima are known in closed form."""

    def __init__(self, shape: tuple[int, ...] = CLIP, num_classes: int = 2, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        d = 1
        for s in shape:
            d *= s
        self.fc = nn.Linear(d, num_classes)
        with torch.no_grad():
            self.fc.weight.copy_(0.01 * torch.randn(num_classes, d, generator=gen))
            self.fc.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.flatten(1))


class Scaled(nn.Module):
    """Multiplies logits by a huge factor: cross-entropy saturates (the ABNN small-sigma failure)."""

    def __init__(self, model: nn.Module, factor: float = 1e4) -> None:
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x) * self.factor


class Quantised(nn.Module):
    """Rounds the input to 8 levels without a straight-through estimator: input gradients vanish."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(torch.round(x * 7) / 7)


def moving_squares(n: int, seed: int, shape: tuple[int, ...] = CLIP) -> tuple[Tensor, Tensor]:
    """Clips of a lighter 5x5 square moving 2 px/frame in one of four directions on a noisy background."""
    gen = torch.Generator().manual_seed(seed)
    c, t, h, w = shape
    y = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    x = 0.3 + 0.1 * torch.rand(n, c, t, h, w, generator=gen)
    moves = torch.tensor([[0, 2], [0, -2], [2, 0], [-2, 0]])
    side, span = 5, 2 * (t - 1)
    for i in range(n):
        dy, dx = moves[y[i]].tolist()
        r0 = int(torch.randint(0, h - side - span + 1, (1,), generator=gen)) + (span if dy < 0 else 0)
        c0 = int(torch.randint(0, w - side - span + 1, (1,), generator=gen)) + (span if dx < 0 else 0)
        color = 0.6 + 0.1 * torch.rand(c, 1, 1, generator=gen)
        for f in range(t):
            r, cc = r0 + dy * f, c0 + dx * f
            x[i, :, f, r:r + side, cc:cc + side] = color
    return x.clamp(0, 1), y


@pytest.fixture(scope="session")
def data() -> dict[str, tuple[Tensor, Tensor]]:
    return {"train": moving_squares(256, 1), "test": moving_squares(64, 2), "holdout": moving_squares(64, 3)}


@pytest.fixture(scope="session")
def trained(data) -> nn.Module:
    """A TinyConv3d trained for a few seconds; clean test accuracy is asserted in the tests."""
    torch.manual_seed(0)
    model = TinyConv3d()
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    x, y = data["train"]
    model.train()
    for _ in range(6):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


@pytest.fixture()
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return TinyConv3d().eval()


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())
