"""In-memory toy clips and tiny configs for the engine tests (no decoding: fast on 2 cores)."""

import pytest
import torch
from torch.utils.data import Dataset

from videoabnn.config import config_from_dict


class ToyClips(Dataset):
    """Separable clips: class k brightens channel k. Training items get a random flip drawn from torch's
    global RNG (so resume tests see augmentation randomness); ``clips_per_video`` clips share a video."""

    classes = ["red", "green", "blue"]
    num_classes = 3

    def __init__(self, n: int, seed: int, train: bool, clips_per_video: int = 1) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % 3
        self.clips = torch.rand(n, 3, 4, 16, 16, generator=g) * 0.5
        for i, k in enumerate(self.labels.tolist()):
            self.clips[i, k] += 0.4
        self.train = train
        self.clips_per_video = clips_per_video

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        clip = self.clips[i]
        if self.train and torch.rand(()) < 0.5:
            clip = clip.flip(-1)
        return {"clip": clip, "label": int(self.labels[i]), "video": i // self.clips_per_video}


@pytest.fixture
def toy_sets():
    return ToyClips(24, seed=1, train=True), ToyClips(12, seed=2, train=False, clips_per_video=2)


@pytest.fixture
def tiny_cfg(tmp_path):
    def make(method: str = "standard", **over):
        data = {
            "name": "tiny", "work_dir": str(tmp_path / method), "device": "cpu", "seed": 3,
            "data": {"batch_size": 8, "num_classes": 3},
            "model": {"name": "tiny_r3d", "kwargs": {"width": 4}},
            "abnn": {"substitute": {"name": "tiny_r3d", "kwargs": {"width": 4}}},
            "train": {"method": method, "epochs": 3, "lr": 0.05, "scheduler": "constant", "weight_decay": 0.0,
                      "attack": {"name": "pgd", "eps": 4 / 255, "alpha": 2 / 255, "steps": 2}},
            "eval": {"attacks": ["fgsm"], "audit": False},
        }
        for key, value in over.items():
            node = data
            *parents, last = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        return config_from_dict(data)

    return make
