"""Attack registry and presets: ``@register_attack`` (used by each attack's own module),
``build_attack(name, model, **params)``, ``list_attacks()``, ``ATTACK_PRESETS``. This module imports
no concrete attack: ``videoabnn.attacks`` imports the attack modules, which register themselves.

Preset values follow ``attack-protocol.md`` converted to pixels in [0, 1]: a number the papers
wrote on the 0-255 scale is divided by 255 (PGD-L2: eps 160 -> 160/255 over the whole clip,
step 1.0 -> 1/255, the literal conversion, which makes that attack weak; ``strong`` adds an L2
attack whose step is 2.5 * eps / steps). Physical sizes are fractions of the frame so presets
work at any resolution: a 30x30 sticker at 112x112 is ``size=30/112``; an AF width of 5 is
``width=5/112`` of the shorter side; SPA 100 pixels is ``pixels=100/112**2`` of the frame area.
Universal attacks need ``fit(loader)`` and are therefore not in the presets.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from videoabnn.capabilities import Capability, supports

# name -> (class, fixed defaults applied before the user's parameters); filled by @register_attack
_REGISTRY: dict[str, tuple[type, dict[str, Any]]] = {}


def register_attack(*names: str, **fixed: Any):
    """Class decorator registering an attack under ``names`` (``fixed`` parameters per name are given as
    ``{name: {param: value}}`` through the ``defaults`` keyword, e.g. ``defaults={"pgd_l2": {"norm": "l2"}}``)."""
    per_name = fixed.pop("defaults", {})

    def decorate(cls: type) -> type:
        for name in names:
            _REGISTRY[name] = (cls, {**fixed, **per_name.get(name, {})})
        return cls

    return decorate


def list_attacks() -> list[str]:
    """Names accepted by ``build_attack``."""
    return sorted(_REGISTRY)


def attack_class(name: str) -> type:
    """The class registered under ``name`` (unknown names list the known ones)."""
    key = str(name).lower()
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown attack {name!r}{hint}; known: {', '.join(list_attacks())}")
    return _REGISTRY[key][0]


def accepted_params(cls: type) -> set[str]:
    """Keyword parameters accepted by ``cls`` (walking the ``**kwargs`` chain up the MRO)."""
    names: set[str] = set()
    fixed = set(getattr(cls, "fixed_params", ()))
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "model":
                names.add(p.name)
    return names - fixed


def adaptive_target(model: nn.Module, bpda: str | None, eot: int | None, seed: int | None) -> nn.Module:
    """What a gradient attack differentiates through: with ``bpda``/``eot`` set and a model behind an
    input transformation (one with ``attack_view()``), its BPDA/EOT view; otherwise the model itself.
    Every attack accepts both (``bpda``: auto | none | identity | median | standin; ``eot``: draws per step)."""
    if (bpda is None and eot is None) or not supports(model, Capability.ATTACK_VIEW):
        return model
    return model.attack_view(bpda=bpda or "auto", eot=eot, seed=int(seed or 0))


def build_attack(name: str, model: nn.Module, **params: Any):
    """Build a registered attack; unknown names or parameters raise a ValueError naming the valid ones."""
    cls = attack_class(name)
    fixed = _REGISTRY[str(name).lower()][1]
    params = {k: v for k, v in params.items() if k not in ("id", "name")}
    model = adaptive_target(model, params.pop("bpda", None), params.pop("eot", None), params.get("seed"))
    if not getattr(cls, "open_params", False):
        bad = sorted(set(params) - accepted_params(cls))
        if bad:
            raise ValueError(f"attack {name!r}: unknown parameter(s) {bad}; accepted: {sorted(accepted_params(cls))}")
    return cls(model, **{**fixed, **params})


def attack_budget(name: str, params: Mapping[str, Any]) -> tuple[str, float] | None:
    """The norm ball an attack works in, ``("linf" | "l2", eps)``, or None for attacks without one
    (stickers, framing, patches). Every attack in a ball of radius <= eps is one threat model at eps: their
    per-clip worst case is the robust accuracy at that budget."""
    cls = attack_class(name)
    fixed = _REGISTRY[str(name).lower()][1]
    kwargs = {k: v for k, v in {**fixed, **params}.items() if k in accepted_params(cls) or k in fixed}
    try:
        attack = cls(nn.Identity(), **kwargs)
    except (TypeError, ValueError):  # needs more than a model to exist: no norm-ball budget to read
        return None
    norm = str(getattr(attack, "norm", None) or getattr(attack, "threat", "none")).lower()
    eps = getattr(attack, "eps", None)
    if norm not in ("linf", "l2") or eps is None:
        return None
    return norm, float(eps)


def budget_label(norm: str, eps: float) -> str:
    """``"linf 4/255"`` (Linf radii on the 0-255 scale) or ``"l2 1"``."""
    return f"linf {eps * 255:.3g}/255" if norm == "linf" else f"{norm} {eps:.3g}"


def _e(v: float) -> float:
    return v / 255


ATTACK_PRESETS: dict[str, list[dict[str, Any]]] = {
    "standard": [
        {"id": "fgsm_4", "name": "fgsm", "eps": _e(4)},
        {"id": "pgd_linf_4", "name": "pgd", "eps": _e(4), "alpha": _e(1), "steps": 5},
        {"id": "pgd_linf_4_margin", "name": "pgd", "eps": _e(4), "alpha": _e(1), "steps": 5, "loss": "margin"},
        {"id": "pgd_linf_4_20", "name": "pgd", "eps": _e(4), "alpha": _e(0.5), "steps": 20},
        {"id": "pgd_l2_160", "name": "pgd_l2", "eps": _e(160), "alpha": _e(1), "steps": 5},
        {"id": "multav", "name": "multav", "eps": 1.04, "alpha": 1.01, "steps": 5},
        {"id": "roa_30", "name": "roa", "size": 30 / 112, "position": "gradient", "alpha": _e(70), "steps": 5},
        {"id": "roa_30_per_frame", "name": "roa", "size": 30 / 112, "position": "random", "per_frame": True,
         "alpha": _e(70), "steps": 5},
        {"id": "af_5", "name": "framing", "width": 5 / 112, "alpha": _e(70), "steps": 5},
        {"id": "spa_100", "name": "spa", "pixels": 100 / 112**2, "alpha": _e(70), "steps": 5},
    ],
    "strong": [
        {"id": "fgsm_8", "name": "fgsm", "eps": _e(8)},
        {"id": "fgsm_16", "name": "fgsm", "eps": _e(16)},
        {"id": "pgd_linf_8", "name": "pgd", "eps": _e(8), "alpha": _e(2), "steps": 10},
        {"id": "pgd_linf_8_margin", "name": "pgd", "eps": _e(8), "alpha": _e(2), "steps": 10, "loss": "margin"},
        {"id": "pgd_linf_16", "name": "pgd", "eps": _e(16), "alpha": _e(4), "steps": 10},
        {"id": "apgd_ce_8", "name": "apgd_ce", "eps": _e(8), "steps": 50},
        {"id": "apgd_dlr_8", "name": "apgd_dlr", "eps": _e(8), "steps": 50},
        {"id": "autoattack_8", "name": "autoattack", "eps": _e(8), "version": "standard"},
        {"id": "pgd_l2_160_strong", "name": "pgd_l2", "eps": _e(160), "alpha": 2.5 * _e(160) / 10, "steps": 10},
        {"id": "multav_10", "name": "multav", "eps": 1.04, "alpha": 1.01, "steps": 10},
        {"id": "roa_45", "name": "roa", "size": 45 / 112, "alpha": _e(70), "steps": 10},
        {"id": "roa_60", "name": "roa", "size": 60 / 112, "alpha": _e(70), "steps": 10},
        {"id": "af_10", "name": "framing", "width": 10 / 112, "alpha": _e(70), "steps": 10},
        {"id": "af_20", "name": "framing", "width": 20 / 112, "alpha": _e(70), "steps": 10},
        {"id": "spa_200", "name": "spa", "pixels": 200 / 112**2, "alpha": _e(70), "steps": 10},
        {"id": "spa_400", "name": "spa", "pixels": 400 / 112**2, "alpha": _e(70), "steps": 10},
    ],
    "quick": [
        {"id": "fgsm_4", "name": "fgsm", "eps": _e(4)},
        {"id": "pgd_linf_4_q", "name": "pgd", "eps": _e(4), "alpha": _e(2), "steps": 2},
        {"id": "pgd_linf_4_margin_q", "name": "pgd", "eps": _e(4), "alpha": _e(2), "steps": 2, "loss": "margin"},
        {"id": "roa_30_q", "name": "roa", "size": 30 / 112, "position": "random", "alpha": _e(70), "steps": 1},
        {"id": "af_5_q", "name": "framing", "width": 5 / 112, "alpha": _e(70), "steps": 1},
        {"id": "spa_100_q", "name": "spa", "pixels": 100 / 112**2, "select": "random", "alpha": _e(70), "steps": 1},
    ],
    "none": [],
}
