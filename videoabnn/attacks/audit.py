"""Gradient-masking audit (Carlini et al. 2019 checklist, AutoAttack-style runtime checks) and the
worst-case-per-clip robust accuracy that an honest evaluation reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from videoabnn.attacks.base import Attack, attack_mode
from videoabnn.attacks.blackbox import Square, Transfer
from videoabnn.attacks.gradcheck import STEPS, TOLERANCE, GradientCheck, check_gradient
from videoabnn.attacks.gradient import PGD
from videoabnn.attacks.losses import attack_loss
from videoabnn.attacks.universal import _batch_xy
from videoabnn.results import AuditCheckResult as AuditCheck  # one checklist item (the results schema's)

# Bump when the audit gains or changes a check, so cached audit reports are recomputed.
AUDIT_VERSION = 2


def _predict(model: nn.Module, x: Tensor) -> Tensor:
    with attack_mode(model), torch.no_grad():
        return model(x).argmax(dim=1)


def worst_case_correct(model: nn.Module, x: Tensor, y: Tensor, attacks: Iterable[Attack] | Mapping[str, Attack]) -> Tensor:
    """Bool per clip: clean-correct and still correct under every attack (each attack only runs on
    clips that survived the previous ones, which is valid because attacks are batch-independent)."""
    attacks = list(attacks.values()) if isinstance(attacks, Mapping) else list(attacks)
    correct = _predict(model, x) == y
    for attack in attacks:
        idx = correct.nonzero().flatten()
        if idx.numel() == 0:
            break
        correct[idx] = _predict(model, attack(x[idx], y[idx])) == y[idx]
    return correct


@dataclass
class AuditReport:
    """Checks, the numbers behind them, and the worst-case robust accuracy at the audit eps."""

    checks: list[AuditCheck]
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    robust_accuracy: float | None = None

    @property
    def passed(self) -> bool:
        """No check failed (checks that could not run, ``passed is None``, do not count)."""
        return all(c.passed is not False for c in self.checks)

    def failed(self) -> list[AuditCheck]:
        """The checks that failed."""
        return [c for c in self.checks if c.passed is False]

    def to_dict(self) -> dict:
        """A JSON-ready dict of the whole report."""
        return {
            "passed": self.passed,
            "robust_accuracy": self.robust_accuracy,
            "checks": [asdict(c) for c in self.checks],
            "metrics": self.metrics,
            "settings": self.settings,
        }


def _grad_stats(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Per clip: CE input gradient exactly zero; margin gradient exactly zero; all finite."""
    out, finite = [], True
    with attack_mode(model), torch.enable_grad():
        for loss in ("ce", "margin"):
            xg = x.detach().clone().requires_grad_(True)
            logits = model(xg)
            (g,) = torch.autograd.grad(attack_loss(loss, logits, y).sum(), xg)
            finite &= bool(torch.isfinite(g).all()) and bool(torch.isfinite(logits).all())
            out.append((g.reshape(g.shape[0], -1) == 0).all(dim=1))
    return out[0], out[1], finite


def _deterministic(model: nn.Module, x: Tensor) -> float:
    """Largest relative difference between two forward passes on the same input."""
    with attack_mode(model), torch.no_grad():
        a, b = model(x), model(x)
    return float((a - b).abs().max() / (1.0 + a.abs().max()))


def audit_gradient_masking(
    model: nn.Module,
    batches: Iterable,
    surrogate: nn.Module | None = None,
    *,
    eps: float = 8 / 255,
    eps_list: tuple[float, ...] = (2 / 255, 4 / 255, 8 / 255, 16 / 255, 64 / 255),
    large_eps: float = 64 / 255,
    steps: int = 10,
    more_steps: int = 40,
    restarts: int = 2,
    square_queries: int = 300,
    square_p_init: float = 0.8,
    tol: float | None = None,
    margin_gap: float = 0.10,
    large_eps_max_acc: float = 0.05,
    zero_grad_tol: float = 0.0,
    frames: str = "all",
    seed: int = 0,
    max_batches: int | None = None,
    show_progress: bool = True,
    gradcheck_clips: int = 2,
    gradcheck_directions: int = 3,
    gradcheck_steps: tuple[float, ...] = STEPS,
    gradcheck_tol: float = TOLERANCE,
) -> AuditReport:
    """Run the gradient-masking checklist on ``batches`` and report the numbers behind each check.

    PGD (CE and margin loss) at every radius, more steps and restarts, Square and (with ``surrogate``)
    transfer at ``eps``; zero, non-finite and non-deterministic outputs; a finite-difference check of the
    input gradient. All radii are Linf, in [0, 1] pixel units; accuracies are fractions of the clips.

    Args:
        model: the classifier under audit, on (N, C, T, H, W) clips in [0, 1] returning logits.
        batches: (x, y) pairs or ``{"clip", "label"}`` dicts (read once, into a list).
        surrogate: a second classifier for the white-box-beats-transfer check; None skips it. Default: None.
        eps: the audit budget: robust accuracy, more steps, Square and transfer are measured there.
            Default: 8/255.
        eps_list: radii of the accuracy-falls-with-eps check (``eps`` and ``large_eps`` are added).
            Default: (2/255, 4/255, 8/255, 16/255, 64/255).
        large_eps: a radius that should break any model. Default: 64/255.
        steps: PGD steps (step size 2.5 * eps / steps). Default: 10.
        more_steps: steps of the stronger PGD of the more-iterations check. Default: 40.
        restarts: restarts of that stronger PGD. Default: 2.
        square_queries: queries of the Square attack per clip. Default: 300.
        square_p_init: initial square fraction of the Square attack. Default: 0.8.
        tol: accuracy slack where a check expects "no higher"; None: max(0.02, 1 / clips). Default: None.
        margin_gap: largest allowed CE-minus-margin PGD accuracy gap (saturated cross-entropy).
            Default: 0.10.
        large_eps_max_acc: largest allowed accuracy at ``large_eps``. Default: 0.05.
        zero_grad_tol: largest allowed share of clips whose CE input gradient is exactly zero. Default: 0.0.
        frames: frames the attacks may change (``"all"``, ``"first:k"``, ...). Default: ``"all"``.
        seed: seed of every attack. Default: 0.
        max_batches: audit only the first batches; None: all. Default: None.
        show_progress: show a progress bar. Default: True.
        gradcheck_clips: clips of the first batch the finite-difference check uses. Default: 2.
        gradcheck_directions: random unit directions it tries. Default: 3.
        gradcheck_steps: its finite-difference step sizes, in pixel units. Default: (1e-5, 1e-6).
        gradcheck_tol: its largest allowed relative error. Default: 1e-3.

    Returns:
        The report: ``checks``, ``metrics``, ``settings`` and ``robust_accuracy`` (the per-clip worst case
        over every attack run at ``eps``).

    Examples:
        >>> report = audit_gradient_masking(model, [(x, y)], eps=8 / 255, max_batches=1)
        >>> report.passed, [c.name for c in report.failed()]
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    eps_all = sorted(set(eps_list) | {eps, large_eps})
    common = {"frames": frames, "seed": seed}

    def pgd(e: float, loss: str, k: int = steps, r: int = 1) -> PGD:
        return PGD(model, eps=e, alpha=2.5 * e / k, steps=k, restarts=r, loss=loss, **common)

    counts: dict[str, float] = {}

    def add(key: str, value: Tensor | float) -> None:
        counts[key] = counts.get(key, 0.0) + float(value.float().sum() if isinstance(value, Tensor) else value)

    det, finite, n = 0.0, True, 0
    batches = list(batches)[:max_batches] if max_batches is not None else list(batches)
    grad_check = None
    bar = tqdm(total=len(batches) * (len(eps_all) + 3 + (surrogate is not None)), desc="gradient-masking audit",
               leave=False, dynamic_ncols=True, disable=not show_progress)
    for batch in batches:
        x, y = _batch_xy(batch)
        x, y = x.to(device), y.to(device).long()
        n += x.shape[0]
        clean = _predict(model, x) == y
        add("clean", clean)
        worst = clean.clone()
        for e in eps_all:
            bar.set_postfix_str(f"PGD at eps {e * 255:g}/255")
            ce = _predict(model, pgd(e, "ce")(x, y)) == y
            mg = _predict(model, pgd(e, "margin")(x, y)) == y
            add(f"ce@{e}", ce)
            add(f"margin@{e}", mg)
            add(f"worst@{e}", ce & mg & clean)
            if e == eps:
                worst &= ce & mg
            bar.update()
        bar.set_postfix_str(f"{more_steps} steps x {restarts} restarts")
        more = (_predict(model, pgd(eps, "ce", more_steps, restarts)(x, y)) == y) & (
            _predict(model, pgd(eps, "margin", more_steps, restarts)(x, y)) == y
        )
        add("more", more & clean)
        worst &= more
        bar.update()
        bar.set_postfix_str(f"Square, {square_queries} queries")
        sq = _predict(model, Square(model, eps=eps, queries=square_queries, p_init=square_p_init, **common)(x, y)) == y
        add("square", sq & clean)
        worst &= sq
        bar.update()
        if surrogate is not None:
            bar.set_postfix_str("transfer")
            tr = Transfer(model, surrogate=surrogate, attack="pgd", eps=eps, alpha=2.5 * eps / steps, steps=steps, **common)
            tr_ok = _predict(model, tr(x, y)) == y
            add("transfer", tr_ok & clean)
            worst &= tr_ok
            bar.update()
        add("worst", worst)
        bar.set_postfix_str("gradients and determinism")
        zero_ce, zero_mg, fin = _grad_stats(model, x, y)
        add("zero_grad_ce", zero_ce)
        add("zero_grad_margin", zero_mg)
        finite &= fin
        det = max(det, _deterministic(model, x))
        if grad_check is None:
            grad_check = check_gradient(model, x[:gradcheck_clips], directions=gradcheck_directions,
                                        steps=tuple(gradcheck_steps), tol=gradcheck_tol, seed=seed)
        bar.update()
    bar.close()
    if n == 0:
        raise ValueError("audit_gradient_masking: no batches given")
    acc = {k: v / n for k, v in counts.items()}
    tol = max(0.02, 1.0 / n) if tol is None else tol
    checks = _checks(acc, eps, eps_all, large_eps, tol, margin_gap, large_eps_max_acc, zero_grad_tol, finite, det, surrogate)
    checks.append(_gradient_check(grad_check))
    metrics = {
        "clips": n,
        "clean_acc": acc["clean"],
        "pgd_ce_acc": {f"{e * 255:g}/255": acc[f"ce@{e}"] for e in eps_all},
        "pgd_margin_acc": {f"{e * 255:g}/255": acc[f"margin@{e}"] for e in eps_all},
        "worst_acc": {f"{e * 255:g}/255": acc[f"worst@{e}"] for e in eps_all},
        "more_steps_acc": acc["more"],
        "square_acc": acc["square"],
        "transfer_acc": acc.get("transfer"),
        "zero_grad_share_ce": acc["zero_grad_ce"],
        "zero_grad_share_margin": acc["zero_grad_margin"],
        "output_max_rel_diff": det,
        "gradient_check": grad_check.to_dict(),
    }
    settings = {"eps": eps, "eps_list": eps_all, "steps": steps, "more_steps": more_steps, "restarts": restarts,
                "square_queries": square_queries, "square_p_init": square_p_init, "tol": tol, "seed": seed, "frames": frames,
                "gradcheck_clips": gradcheck_clips, "gradcheck_directions": gradcheck_directions,
                "gradcheck_steps": [float(h) for h in gradcheck_steps], "gradcheck_tol": gradcheck_tol,
                "audit_version": AUDIT_VERSION}
    return AuditReport(checks, metrics, settings, robust_accuracy=acc["worst"])


def _checks(acc, eps, eps_all, large_eps, tol, margin_gap, large_max, zero_tol, finite, det, surrogate) -> list[AuditCheck]:
    f = lambda v: f"{v:.3f}"  # noqa: E731
    checks = []
    seq = [acc["clean"]] + [acc[f"worst@{e}"] for e in eps_all]
    rise = max(b - a for a, b in zip(seq[:-1], seq[1:]))
    checks.append(AuditCheck(
        "accuracy_falls_with_eps", rise <= tol,
        f"worst-case accuracy over eps {[round(e * 255, 2) for e in eps_all]}/255: {[f(v) for v in seq[1:]]} "
        f"(clean {f(seq[0])}); largest rise {f(rise)}", rise, tol))
    big = acc[f"worst@{large_eps}"]
    checks.append(AuditCheck(
        "large_eps_breaks_model", big <= large_max,
        f"accuracy at eps {large_eps * 255:g}/255 is {f(big)}; an unbounded-looking budget should reach about 0",
        big, large_max))
    base = acc[f"worst@{eps}"]
    checks.append(AuditCheck(
        "more_iterations_do_not_help", acc["more"] <= base + tol,
        f"more steps/restarts: {f(acc['more'])} vs {f(base)}", acc["more"] - base, tol))
    gap = max(acc[f"ce@{e}"] - acc[f"margin@{e}"] for e in eps_all)
    checks.append(AuditCheck(
        "margin_not_far_stronger_than_ce", gap <= margin_gap,
        f"largest CE-minus-margin accuracy gap {f(gap)}; a large gap means saturated cross-entropy gradients",
        gap, margin_gap))
    sq = acc["square"]
    checks.append(AuditCheck(
        "whitebox_beats_blackbox", base <= sq + tol,
        f"white-box {f(base)} vs Square {f(sq)} at eps {eps * 255:g}/255", base - sq, tol))
    if surrogate is None:
        checks.append(AuditCheck("whitebox_beats_transfer", None, "no surrogate model given"))
    else:
        tr = acc["transfer"]
        checks.append(AuditCheck(
            "whitebox_beats_transfer", base <= tr + tol,
            f"white-box {f(base)} vs transfer {f(tr)} at eps {eps * 255:g}/255", base - tr, tol))
    zero = acc["zero_grad_ce"]
    checks.append(AuditCheck(
        "no_zero_gradients", zero <= zero_tol,
        f"share of clips whose CE input gradient is exactly zero: {f(zero)} (margin loss: {f(acc['zero_grad_margin'])})",
        zero, zero_tol))
    checks.append(AuditCheck("finite_gradients", finite, "logits and input gradients finite" if finite
                             else "NaN or inf in logits or input gradients"))
    checks.append(AuditCheck("deterministic_outputs", det <= 1e-5,
                             f"largest relative difference between two forward passes: {det:.2e}", det, 1e-5))
    return [_with_remedy(c) for c in checks]


def _gradient_check(result: GradientCheck) -> AuditCheck:
    """The finite-difference check as a checklist item (value: the largest relative error)."""
    return AuditCheck("gradient_matches_finite_differences", result.passed, result.reason(), result.max_rel_error,
                      result.tol)


REMEDY = ("; gradients look masked: attack through a non-differentiable input transform with BPDA "
          "(bpda: identity) and average a random one over draws with EOT (eot: k), or fix the broken gradient")
_MASKING_SIGNS = ("whitebox_beats_blackbox", "whitebox_beats_transfer", "no_zero_gradients", "finite_gradients")


def _with_remedy(check: AuditCheck) -> AuditCheck:
    """A failed check that points at masked gradients names what to do about it."""
    if check.passed is False and check.name in _MASKING_SIGNS:
        check.reason += REMEDY
    return check
