"""Metrics from known logits: clip/video accuracy (softmax averaged per video), per class, Acc_adv/all."""

import math

import pytest
import torch

from videoabnn.engine import metrics as M


def test_video_accuracy_averages_softmax_not_votes():
    # video 0: two clips weakly say class 1, one clip strongly says class 0 -> softmax mean picks 0
    logits = torch.tensor([[0.0, 0.2], [0.0, 0.2], [9.0, 0.0],  # video 0, label 0
                           [0.0, 3.0], [0.0, 3.0], [0.0, 3.0]])  # video 1, label 0 -> wrong
    labels = torch.tensor([0, 0, 0, 0, 0, 0])
    videos = torch.tensor([0, 0, 0, 1, 1, 1])
    assert M.clip_accuracy(logits, labels) == pytest.approx(1 / 6)
    assert M.video_accuracy(logits, labels, videos) == pytest.approx(0.5)
    ids, preds, vlabels = M.video_predictions(logits, labels, videos)
    assert ids.tolist() == [0, 1] and preds.tolist() == [0, 1] and vlabels.tolist() == [0, 0]


def test_video_ids_need_not_be_contiguous_or_sorted():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([1, 0, 1])
    videos = torch.tensor([7, 2, 7])
    assert M.video_accuracy(logits, labels, videos) == 0.0


def test_per_class_success_rate_norms_and_means():
    correct = torch.tensor([True, False, True, True])
    labels = torch.tensor([0, 0, 1, 2])
    assert M.per_class_accuracy(correct, labels, ["a", "b", "c"]) == {"a": 0.5, "b": 1.0, "c": 1.0}
    clean = torch.tensor([True, True, False, True])
    adv = torch.tensor([False, True, True, False])
    assert M.success_rate(clean, adv) == pytest.approx(2 / 3)
    assert math.isnan(M.success_rate(torch.zeros(2, dtype=torch.bool), adv[:2]))
    x = torch.zeros(2, 3, 2, 2, 2)
    x_adv = x.clone()
    x_adv[0, 0, 0, 0, 0] = 0.5
    x_adv[1] += 0.1
    linf, l2 = M.perturbation_norms(x, x_adv)
    assert linf.tolist() == pytest.approx([0.5, 0.1])
    assert l2.tolist() == pytest.approx([0.5, 0.1 * math.sqrt(24)])
    assert M.acc_adv([0.2, 0.4]) == pytest.approx(0.3)
    assert M.acc_all(0.9, [0.2, 0.4]) == pytest.approx(0.5)


def test_worst_case_is_per_clip_not_min_of_means():
    a = torch.tensor([True, False, True, True])
    b = torch.tensor([False, True, True, True])
    # each attack alone leaves 75%; a clip survives both only in 2 of 4 cases
    assert M.worst_case_accuracy({"a": a, "b": b}) == 0.5
    assert M.worst_case_accuracy({"a": a, "b": b}, clean_correct=torch.tensor([True, True, False, True])) == 0.25
