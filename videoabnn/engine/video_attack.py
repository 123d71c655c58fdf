"""Attacks on one clip of one video: clean top-k, each attack against a label, and its results record.

The model is any registry model or checkpoint (ABNN too; its gray-box view is just another module).
Each attack gets seed ``seed + position`` like the evaluator's; the record of a clip is one
:class:`videoabnn.results.Results` (``num_clips`` 1: accuracy 1.0 = the label kept as top-1).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from videoabnn.engine.attack_specs import attack_params, resolve_attacks
from videoabnn.engine.metrics import perturbation_norms
from videoabnn.results import AttackRow, CleanResult, Results, RunInfo, Summary
from videoabnn.threats import ResultKey

# the README's real-video table: PGD-Linf at 1/255 and 4/255 (20 steps, step eps/8; margin loss, because a
# Kinetics network that is sure of a clip (p = 1.000) saturates cross-entropy and stalls PGD-CE), the fast
# ensemble at 4/255, and the protocol's sticker and framing (sizes as fractions of the frame: 30/112, 5/112)
REAL_ATTACKS: list[dict[str, Any]] = [
    {"id": "pgd_linf_1_20", "name": "pgd", "eps": 1 / 255, "alpha": 0.125 / 255, "steps": 20, "loss": "margin"},
    {"id": "pgd_linf_4_20", "name": "pgd", "eps": 4 / 255, "alpha": 0.5 / 255, "steps": 20, "loss": "margin"},
    {"id": "autoattack_4_fast", "name": "autoattack", "eps": 4 / 255, "version": "fast"},
    {"id": "roa_30", "name": "roa", "size": 30 / 112, "position": "gradient", "alpha": 70 / 255, "steps": 5},
    {"id": "af_5", "name": "framing", "width": 5 / 112, "alpha": 70 / 255, "steps": 5},
]
TOOL_PRESETS = {"real": REAL_ATTACKS}


@dataclass
class AttackOutcome:
    """What one attack did to the clip."""

    spec: dict[str, Any]
    seed: int
    adversarial: Tensor  # (1, C, T, H, W)
    probs: Tensor  # (K,)
    seconds: float
    linf: float
    l2: float
    settings: dict[str, Any] = field(default_factory=dict)


def _preset_entry(attack_id: str) -> dict | None:
    """The spec with id ``attack_id`` in any preset (``roa_30``, ``pgd_linf_4_20``, ...), or None."""
    from videoabnn.attacks import ATTACK_PRESETS

    for preset in [*TOOL_PRESETS.values(), *ATTACK_PRESETS.values()]:
        for spec in preset:
            if spec["id"] == attack_id:
                return dict(spec)
    return None


def attack_specs(names: Sequence[str] | str) -> list[dict]:
    """Resolved specs of presets (``quick``, ``standard``, ``strong``, ``real``), preset attack ids
    (``roa_30``) or attack names (``pgd``: its defaults)."""
    names = [names] if isinstance(names, str) else list(names)
    specs: list[dict] = []
    for name in names:
        entry = _preset_entry(name)
        if name in TOOL_PRESETS:
            specs += [dict(s) for s in TOOL_PRESETS[name]]
        elif entry is not None:
            specs.append(entry)
        else:
            specs += resolve_attacks({"eval": {"attacks": [name], "attack_args": {}}})
    ids = [s["id"] for s in specs]
    return [s for i, s in enumerate(specs) if s["id"] not in ids[:i]]


def probabilities(model: nn.Module, x: Tensor) -> Tensor:
    """Softmax of the model's logits for one clip ``(1, C, T, H, W)`` -> ``(K,)``."""
    with torch.no_grad():
        return model(x).float().softmax(dim=1)[0]


def top_k(probs: Tensor, classes: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` most likely classes with their probabilities."""
    values, indices = probs.topk(min(k, probs.numel()))
    return [(classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]


def run_attacks(model: nn.Module, x: Tensor, label: int, specs: Sequence[Mapping], seed: int = 0) -> Iterator[AttackOutcome]:
    """Each attack of ``specs`` on clip ``x`` (1, C, T, H, W) against ``label``, in order, as it finishes."""
    from videoabnn.attacks import build_attack

    y = torch.tensor([label], device=x.device)
    for index, spec in enumerate(specs):
        attack_seed = seed + index
        attack = build_attack(spec["name"], model, seed=attack_seed, **attack_params(spec))
        start = time.perf_counter()
        x_adv = attack(x, y).detach()
        seconds = time.perf_counter() - start
        linf, l2 = perturbation_norms(x, x_adv)
        settings = attack.settings()
        yield AttackOutcome(dict(spec), attack_seed, x_adv, probabilities(model, x_adv), seconds, float(linf[0]),
                            float(l2[0]), settings)


def _row(outcome: AttackOutcome, label: int, clean_correct: bool, classes: Sequence[str], threat: str) -> AttackRow:
    kept = int(outcome.probs.argmax()) == label
    details = {"top5": top_k(outcome.probs, classes), "label_probability": float(outcome.probs[label]), **outcome.settings}
    return AttackRow(name=outcome.spec["name"], threat=threat, params=attack_params(outcome.spec),
                     clip_acc=float(kept), success_rate=(0.0 if kept else 1.0) if clean_correct else None,
                     mean_linf=outcome.linf, mean_l2=outcome.l2, seconds=outcome.seconds, seed=outcome.seed,
                     details=details)


def clip_results(run: RunInfo, clean_probs: Tensor, label: int, outcomes: Sequence[AttackOutcome],
                 classes: Sequence[str], threat: str, seed: int, clip: Mapping[str, Any],
                 config: Mapping[str, Any], environment: Mapping[str, Any]) -> Results:
    """The results record of one clip (accuracies 1.0 / 0.0: the label is / is not the top-1)."""
    clean_correct = int(clean_probs.argmax()) == label
    rows = {ResultKey(o.spec["id"], threat).format(): _row(o, label, clean_correct, classes, threat) for o in outcomes}
    accs = [r.clip_acc for r in rows.values()]
    worst = min([float(clean_correct)] + accs)
    summary = Summary(threat=threat, acc_adv=sum(accs) / len(accs) if accs else None,
                      acc_all=(float(clean_correct) + sum(accs)) / (1 + len(accs)),
                      worst_case={threat: worst}, worst_case_attacks={threat: list(rows)})
    subset = {"kind": "video", "count": 1, **dict(clip), "label": classes[label],
              "clean_top5": top_k(clean_probs, classes), "clean_label_probability": float(clean_probs[label])}
    return Results(run=run, clean=CleanResult(clip_acc=float(clean_correct)), attacks=rows, summary=summary,
                   num_clips=1, seed=seed, data_subset=subset, config=dict(config), environment=dict(environment))
