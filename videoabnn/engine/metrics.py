"""Accuracy metrics of the field: clip and video accuracy, per-class accuracy, Acc_adv/Acc_all,
attack success rate and perturbation sizes.

Video accuracy averages the softmax of every clip of a video (the clips of one video share its
``video`` index) and takes the arg-max of that mean, as in the video-recognition literature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor


def clip_correct(logits: Tensor, labels: Tensor) -> Tensor:
    """Boolean vector: is each clip's arg-max prediction its label."""
    return logits.argmax(dim=1).eq(labels.to(logits.device))


def clip_accuracy(logits: Tensor, labels: Tensor) -> float:
    """Fraction of clips predicted correctly."""
    if len(labels) == 0:
        return float("nan")
    return clip_correct(logits, labels).float().mean().item()


def video_predictions(logits: Tensor, labels: Tensor, videos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per video: (video ids, predicted class of the softmax mean over its clips, label)."""
    videos = videos.to(torch.long).cpu()
    probs = torch.softmax(logits.detach().float().cpu(), dim=1)
    ids, inverse = torch.unique(videos, sorted=True, return_inverse=True)
    summed = torch.zeros(len(ids), probs.shape[1]).index_add_(0, inverse, probs)
    counts = torch.zeros(len(ids)).index_add_(0, inverse, torch.ones(len(videos)))
    mean = summed / counts[:, None]
    video_labels = torch.empty(len(ids), dtype=torch.long)
    video_labels[inverse] = labels.to(torch.long).cpu()
    return ids, mean.argmax(dim=1), video_labels


def video_accuracy(logits: Tensor, labels: Tensor, videos: Tensor) -> float:
    """Fraction of videos whose softmax-averaged prediction over their clips is correct."""
    if len(labels) == 0:
        return float("nan")
    _, preds, video_labels = video_predictions(logits, labels, videos)
    return preds.eq(video_labels).float().mean().item()


def per_class_accuracy(correct: Tensor, labels: Tensor, classes: Sequence[str] | None = None) -> dict:
    """Clip accuracy per class, keyed by class name (or index); classes without clips are left out."""
    correct, labels = correct.bool().cpu(), labels.long().cpu()
    out: dict = {}
    for k in torch.unique(labels).tolist():
        mask = labels == k
        key = classes[k] if classes is not None and k < len(classes) else str(k)
        out[key] = correct[mask].float().mean().item()
    return out


def success_rate(clean_correct: Tensor, adv_correct: Tensor) -> float:
    """Fraction of the clips classified correctly when clean that the attack makes wrong."""
    clean_correct, adv_correct = clean_correct.bool().cpu(), adv_correct.bool().cpu()
    n = int(clean_correct.sum())
    if n == 0:
        return float("nan")
    return (clean_correct & ~adv_correct).sum().item() / n


def perturbation_norms(x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    """Per-clip L-inf and L2 size of ``x_adv - x`` (pixel scale [0, 1], L2 over the whole clip)."""
    delta = (x_adv.detach().float() - x.detach().float()).flatten(1)
    return delta.abs().amax(dim=1).cpu(), delta.norm(p=2, dim=1).cpu()


def acc_adv(attack_accs: Iterable[float]) -> float:
    """Acc_adv: the mean accuracy over the attacks."""
    values = list(attack_accs)
    return sum(values) / len(values) if values else float("nan")


def acc_all(clean_acc: float, attack_accs: Iterable[float]) -> float:
    """Acc_all: the mean accuracy over clean data plus every attack."""
    values = [clean_acc, *attack_accs]
    return sum(values) / len(values)


def worst_case_accuracy(correct_by_attack: Mapping[str, Tensor], clean_correct: Tensor | None = None) -> float:
    """Per-clip worst case: a clip counts only if it is correct under every attack (and clean, if given)."""
    vectors = [v.bool().cpu() for v in correct_by_attack.values()]
    if clean_correct is not None:
        vectors.append(clean_correct.bool().cpu())
    if not vectors:
        return float("nan")
    return torch.stack(vectors).all(dim=0).float().mean().item()


def summarize_predictions(
    logits: Tensor, labels: Tensor, videos: Tensor, classes: Sequence[str] | None = None
) -> dict:
    """Clip accuracy, video accuracy and per-class accuracy of one set of predictions."""
    correct = clip_correct(logits, labels)
    return {
        "clip_acc": clip_accuracy(logits, labels),
        "video_acc": video_accuracy(logits, labels, videos),
        "per_class": per_class_accuracy(correct, labels, classes),
    }
