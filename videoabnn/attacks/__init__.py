"""Video attacks (digital, physical, universal, black-box) and the gradient-masking audit."""

from videoabnn.attacks.adaptive import ABNNAdaptive
from videoabnn.attacks.apgd import APGD
from videoabnn.attacks.audit import (
    AUDIT_VERSION,
    AuditCheck,
    AuditReport,
    audit_gradient_masking,
    worst_case_correct,
)
from videoabnn.attacks.base import Attack, attack_mode, clip_generators
from videoabnn.attacks.blackbox import Square, Transfer
from videoabnn.attacks.ensemble import AutoAttack
from videoabnn.attacks.flicker import FlickerAttack
from videoabnn.attacks.frames import FrameSpec, frame_mask, parse_frames
from videoabnn.attacks.gradcheck import GradientCheck, check_gradient
from videoabnn.attacks.gradient import FGSM, MIFGSM, PGD
from videoabnn.attacks.losses import LOSSES, attack_loss, dlr_loss, is_adversarial, margin_loss
from videoabnn.attacks.multav import MultAV
from videoabnn.attacks.physical import ROA, Framing, SaltPepper
from videoabnn.attacks.registry import (
    ATTACK_PRESETS,
    attack_budget,
    attack_class,
    budget_label,
    build_attack,
    list_attacks,
    register_attack,
)
from videoabnn.attacks.universal import UniversalFraming, UniversalPatch

__all__ = [
    "ABNNAdaptive",
    "APGD",
    "AutoAttack",
    "ATTACK_PRESETS",
    "AUDIT_VERSION",
    "FGSM",
    "FlickerAttack",
    "LOSSES",
    "MIFGSM",
    "PGD",
    "ROA",
    "Attack",
    "AuditCheck",
    "AuditReport",
    "FrameSpec",
    "Framing",
    "GradientCheck",
    "MultAV",
    "SaltPepper",
    "Square",
    "Transfer",
    "UniversalFraming",
    "UniversalPatch",
    "attack_loss",
    "attack_class",
    "attack_mode",
    "audit_gradient_masking",
    "attack_budget",
    "budget_label",
    "build_attack",
    "check_gradient",
    "clip_generators",
    "dlr_loss",
    "frame_mask",
    "is_adversarial",
    "list_attacks",
    "margin_loss",
    "parse_frames",
    "register_attack",
    "worst_case_correct",
]
