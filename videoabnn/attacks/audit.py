"""Gradient-masking audit (Carlini et al. 2019 checklist, AutoAttack-style runtime checks) and the
worst-case-per-clip robust accuracy that an honest evaluation reports.

What each check needs (clips, steps, queries) is listed in :func:`audit_gradient_masking`'s docstring.
Checks that attack need clips the model classifies correctly: with ``min_correct`` /
``min_clean_over_chance`` set, a model below them (an untrained one) gets "not applicable" for those
checks and for the audit as a whole (``passed`` None), not a verdict it cannot support.
"""

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

# The checks that attack the model: they need correctly classified clips.
NEEDS_CORRECT = ("accuracy_falls_with_eps", "large_eps_breaks_model", "more_iterations_do_not_help",
                 "margin_not_far_stronger_than_ce", "whitebox_beats_blackbox", "whitebox_beats_transfer")


def _predict(model: nn.Module, x: Tensor) -> Tensor:
    with attack_mode(model), torch.no_grad():
        return model(x).argmax(dim=1)


def _clean_pass(model: nn.Module, x: Tensor) -> tuple[Tensor, int]:
    """Clean predictions and the number of classes (the width of the logits)."""
    with attack_mode(model), torch.no_grad():
        logits = model(x)
    return logits.argmax(dim=1), int(logits.shape[1])


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
class EvaluationReuse:
    """Per-clip results an evaluation already computed on the audited clips, read instead of re-attacking.

    Each tensor holds one bool per audited clip, in the order of the audit's batches: the clip is
    clean-correct and still correct under every attack of that threat model within the Linf ball of that
    radius (the per-clip worst case, as the evaluation's ``worst_case_budget``).

    Attributes:
        white: Linf radius -> correct under every white-box attack of the evaluation within it. Radii of
            ``eps_list`` found here are not attacked again; every radius here joins the
            accuracy-falls-with-eps sequence.
        transfer: Linf radius -> correct under every transfer attack within it; with it the
            white-box-beats-transfer check compares these with ``white`` at the same radii and no surrogate
            is attacked.
        attacks: a label per reused radius (``"white 4/255"``) -> the attack ids behind it (for the report).
    """

    white: dict[float, Tensor] = field(default_factory=dict)
    transfer: dict[float, Tensor] = field(default_factory=dict)
    attacks: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class AuditReport:
    """Checks, the numbers behind them, and the worst-case robust accuracy at the audit eps."""

    checks: list[AuditCheck]
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    robust_accuracy: float | None = None
    # why the model cannot be judged (too few correctly classified clips); None: it can
    not_applicable: str | None = None

    @property
    def passed(self) -> bool | None:
        """No check failed (checks that could not run, ``passed is None``, do not count); None when the
        audit is not applicable (see ``not_applicable``)."""
        if self.not_applicable is not None:
            return None
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
            "not_applicable": self.not_applicable,
        }


def _hits(model: nn.Module, attack: Attack, x: Tensor, y: Tensor, idx: Tensor | None) -> Tensor:
    """Correct after ``attack``, per clip; with ``idx`` only those clips are attacked (the others: False)."""
    if idx is None:
        return _predict(model, attack(x, y)) == y
    out = torch.zeros_like(y, dtype=torch.bool)
    if idx.numel():
        out[idx] = _predict(model, attack(x[idx], y[idx])) == y[idx]
    return out


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


def _applicability(correct: int, n: int, classes: int, min_correct: int, min_over_chance: float) -> str | None:
    """Why the attack checks cannot judge the model (None: they can)."""
    chance = 1.0 / max(classes, 1)
    acc = correct / n
    why = []
    if correct < min_correct:
        why.append(f"the attack checks need at least {min_correct}")
    if min_over_chance > 0 and acc < min_over_chance * chance - 1e-12:
        why.append(f"below {min_over_chance:g}x chance ({min_over_chance * chance:.3f} with {classes} classes)")
    if not why:
        return None
    return f"{correct} of {n} audited clips classified correctly (clean accuracy {acc:.3f}): {'; '.join(why)}"


def _label(e: float) -> str:
    return f"{e * 255:g}/255"


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
    min_correct: int = 0,
    min_clean_over_chance: float = 0.0,
    correct_only: bool = False,
    reuse: EvaluationReuse | None = None,
) -> AuditReport:
    """Run the gradient-masking checklist on ``batches`` and report the numbers behind each check.

    PGD (CE and margin loss) at every radius, more steps and restarts, Square and (with ``surrogate``)
    transfer at ``eps``; zero, non-finite and non-deterministic outputs; a finite-difference check of the
    input gradient. All radii are Linf, in [0, 1] pixel units; accuracies are fractions of the clips.

    What each check needs, per audited clip ("steps": forward+backward passes, "queries": forward passes):

    - ``accuracy_falls_with_eps``: correctly classified clips; CE and margin PGD (``2 * steps``) at each
      radius it attacks (``eps``, ``large_eps``, and the radii of ``eps_list`` that ``reuse`` does not
      cover: those are read from the evaluation's attacks, not attacked again).
    - ``large_eps_breaks_model``: correctly classified clips; the PGD at ``large_eps`` (above).
    - ``more_iterations_do_not_help``: correctly classified clips; ``2 * more_steps * restarts`` steps.
    - ``margin_not_far_stronger_than_ce``: correctly classified clips; the PGD runs above (no extra cost).
    - ``whitebox_beats_blackbox``: correctly classified clips; ``square_queries`` queries.
    - ``whitebox_beats_transfer``: correctly classified clips; ``steps`` on ``surrogate``, or nothing with
      ``reuse.transfer`` (the evaluation's white-box and transfer rows, radius by radius).
    - ``no_zero_gradients``, ``finite_gradients``: any clips, correct or not; 2 steps.
    - ``deterministic_outputs``: any clips; 2 forward passes.
    - ``gradient_matches_finite_differences``: ``gradcheck_clips`` clips of the first batch, correct or not;
      a float64 copy of the model: 1 backward and ``2 * len(gradcheck_steps) * gradcheck_directions``
      forward passes.

    With ``correct_only`` the attacks run on the clean-correct clips only (the checks count only those).
    These defaults are the thorough audit (the robustness study passes its own ``study.audit`` on top of
    them); ``tools/test.py`` runs a bounded one, about the cost of a quick evaluation (``eval.audit_budget``:
    5 steps, 10 more steps x 1 restart, 50 Square queries, 1 gradient-check clip x 2 directions, at most
    16 clips, 4/255 read from the evaluation where it attacked that radius).

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
        min_correct: fewest correctly classified audited clips the attack checks need; below it they
            (and the audit) are "not applicable" and are not run. Default: 0 (always applicable).
        min_clean_over_chance: the same for clean accuracy, as a multiple of chance (1 / classes; 2: twice
            chance). Default: 0.0 (always applicable).
        correct_only: attack only the clean-correct clips (the checks count only those anyway; not for
            a model whose output for a clip depends on the other clips of its batch). Default: False.
        reuse: per-clip results of an evaluation on the same clips (:class:`EvaluationReuse`), read
            instead of re-attacking. Default: None.

    Returns:
        The report: ``checks``, ``metrics``, ``settings``, ``robust_accuracy`` (the per-clip worst case
        over every attack run at ``eps``, and with ``reuse`` the evaluation's attacks within ``eps``) and
        ``not_applicable`` (why the model cannot be judged, or None).

    Examples:
        >>> report = audit_gradient_masking(model, [(x, y)], eps=8 / 255, max_batches=1)
        >>> report.passed, [c.name for c in report.failed()]
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    eps_all = sorted(set(eps_list) | {eps, large_eps})
    common = {"frames": frames, "seed": seed}
    known_white = {float(r): v for r, v in (reuse.white if reuse is not None else {}).items()}
    attacked = [e for e in eps_all if e in (eps, large_eps) or not any(abs(e - r) <= 1e-9 for r in known_white)]

    def on_grid(r: float) -> float:  # a reused radius that is one the audit attacks counts as that radius
        return next((e for e in attacked if abs(e - r) <= 1e-9), r)

    known_white = {on_grid(r): v for r, v in known_white.items()}
    known_transfer = {on_grid(float(r)): v for r, v in (reuse.transfer if reuse is not None else {}).items()}
    radii = sorted(set(attacked) | set(known_white))

    def pgd(e: float, loss: str, k: int = steps, r: int = 1) -> PGD:
        return PGD(model, eps=e, alpha=2.5 * e / k, steps=k, restarts=r, loss=loss, **common)

    counts: dict[str, float] = {}

    def add(key: str, value: Tensor | float) -> None:
        counts[key] = counts.get(key, 0.0) + float(value.float().sum() if isinstance(value, Tensor) else value)

    det, finite, n = 0.0, True, 0
    batches = list(batches)[:max_batches] if max_batches is not None else list(batches)
    data, cleans, classes = [], [], 0
    for batch in batches:
        x, y = _batch_xy(batch)
        x, y = x.to(device), y.to(device).long()
        pred, classes = _clean_pass(model, x)
        data.append((x, y))
        cleans.append(pred == y)
        n += x.shape[0]
    if n == 0:
        raise ValueError("audit_gradient_masking: no batches given")
    for what, known in (("white", known_white), ("transfer", known_transfer)):
        for r, v in known.items():
            if len(v) != n:
                raise ValueError(f"audit_gradient_masking: reuse.{what}[{r}] has {len(v)} entries for {n} audited clips")
    n_correct = int(sum(int(c.sum()) for c in cleans))
    why = _applicability(n_correct, n, classes, int(min_correct), float(min_clean_over_chance))
    use_surrogate = surrogate is not None and not known_transfer
    grad_check = None
    per_batch = (len(attacked) + 2 + use_surrogate) if why is None else 0
    bar = tqdm(total=len(data) * (per_batch + 1), desc="gradient-masking audit",
               leave=False, dynamic_ncols=True, disable=not show_progress)
    offset = 0
    for (x, y), clean in zip(data, cleans):
        rows = slice(offset, offset + x.shape[0])
        offset += x.shape[0]
        add("clean", clean)
        if why is None:
            idx = clean.nonzero().flatten() if correct_only else None

            def hits(attack: Attack, x: Tensor = x, y: Tensor = y, idx: Tensor | None = idx) -> Tensor:
                return _hits(model, attack, x, y, idx)

            worst = clean.clone()
            white_at: dict[float, Tensor] = {}
            for e in attacked:
                bar.set_postfix_str(f"PGD at eps {e * 255:g}/255")
                ce = hits(pgd(e, "ce"))
                mg = hits(pgd(e, "margin"))
                add(f"ce@{e}", ce)
                add(f"margin@{e}", mg)
                add(f"worst@{e}", ce & mg & clean)
                white_at[e] = ce & mg & clean
                if e == eps:
                    worst &= ce & mg
                bar.update()
            for r in radii:  # the worst case at each radius: the audit's PGD and the evaluation's attacks
                seq = white_at.get(r, clean)
                if r in known_white:
                    seq = seq & known_white[r][rows].to(clean.device)
                add(f"seq@{r}", seq)
            bar.set_postfix_str(f"{more_steps} steps x {restarts} restarts")
            more = hits(pgd(eps, "ce", more_steps, restarts)) & hits(pgd(eps, "margin", more_steps, restarts))
            add("more", more & clean)
            worst &= more
            bar.update()
            bar.set_postfix_str(f"Square, {square_queries} queries")
            sq = hits(Square(model, eps=eps, queries=square_queries, p_init=square_p_init, **common))
            add("square", sq & clean)
            worst &= sq
            bar.update()
            if use_surrogate:
                bar.set_postfix_str("transfer")
                tr = Transfer(model, surrogate=surrogate, attack="pgd", eps=eps, alpha=2.5 * eps / steps, steps=steps, **common)
                tr_ok = hits(tr)
                add("transfer", tr_ok & clean)
                worst &= tr_ok
                bar.update()
            for r, v in [*known_white.items(), *known_transfer.items()]:
                if r <= eps + 1e-9:  # an attack within the audit's ball is an attack at eps
                    worst &= v[rows].to(worst.device)
            for r, v in known_transfer.items():
                add(f"transfer@{r}", v[rows].to(clean.device) & clean)
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
    acc = {k: v / n for k, v in counts.items()}
    tol = max(0.02, 1.0 / n) if tol is None else tol
    settings = {"eps": eps, "eps_list": radii, "steps": steps, "more_steps": more_steps, "restarts": restarts,
                "square_queries": square_queries, "square_p_init": square_p_init, "tol": tol, "seed": seed, "frames": frames,
                "gradcheck_clips": gradcheck_clips, "gradcheck_directions": gradcheck_directions,
                "gradcheck_steps": [float(h) for h in gradcheck_steps], "gradcheck_tol": gradcheck_tol,
                "audit_version": AUDIT_VERSION}
    if min_correct or min_clean_over_chance:
        settings.update(min_correct=int(min_correct), min_clean_over_chance=float(min_clean_over_chance))
    if correct_only:
        settings["correct_only"] = True
    if reuse is not None:
        settings.update(attacked_eps=attacked, reused={k: list(v) for k, v in reuse.attacks.items()})
    metrics: dict[str, Any] = {"clips": n, "clean_acc": acc["clean"]}
    if why is not None:
        metrics["correct_clips"] = n_correct
        metrics["classes"] = classes
    else:
        metrics.update({
            "pgd_ce_acc": {_label(e): acc[f"ce@{e}"] for e in attacked},
            "pgd_margin_acc": {_label(e): acc[f"margin@{e}"] for e in attacked},
            "worst_acc": {_label(e): acc[f"worst@{e}"] for e in attacked},
            "more_steps_acc": acc["more"],
            "square_acc": acc["square"],
            "transfer_acc": acc.get("transfer"),
        })
        if reuse is not None:
            metrics["eps_sequence_acc"] = {_label(r): acc[f"seq@{r}"] for r in radii}
            metrics["reused_transfer_acc"] = {_label(r): acc[f"transfer@{r}"] for r in sorted(known_transfer)}
    metrics.update({
        "zero_grad_share_ce": acc["zero_grad_ce"],
        "zero_grad_share_margin": acc["zero_grad_margin"],
        "output_max_rel_diff": det,
        "gradient_check": grad_check.to_dict(),
    })
    if why is not None:
        checks = [AuditCheck(name, None, f"not applicable: {why}") for name in NEEDS_CORRECT]
    else:
        checks = _checks(acc, eps, radii, large_eps, tol, margin_gap, large_eps_max_acc, surrogate, known_white,
                         known_transfer, reuse)
    checks += _gradient_checks(acc, zero_grad_tol, finite, det)
    checks.append(_gradient_check(grad_check))
    not_applicable = None
    if why is not None:
        bad = [c.name for c in checks if c.passed is False]
        not_applicable = why + ("; of the checks that need no correct clips, failed: " + ", ".join(bad) if bad else "")
    return AuditReport(checks, metrics, settings, robust_accuracy=None if why else acc["worst"],
                       not_applicable=not_applicable)


def _checks(acc, eps, radii, large_eps, tol, margin_gap, large_max, surrogate, known_white, known_transfer,
            reuse) -> list[AuditCheck]:
    """The checks that attack the model (they need correctly classified clips)."""
    f = lambda v: f"{v:.3f}"  # noqa: E731
    checks = []
    seq = [acc["clean"]] + [acc[f"seq@{e}"] for e in radii]
    rise = max(b - a for a, b in zip(seq[:-1], seq[1:]))
    read = ""
    if known_white:
        names = sorted({a for k, v in (reuse.attacks if reuse is not None else {}).items() if k.startswith("white")
                        for a in v})
        read = (f"; {', '.join(_label(r) for r in sorted(known_white))} read from the evaluation's attacks"
                + (f" ({', '.join(names)})" if names else ""))
    checks.append(AuditCheck(
        "accuracy_falls_with_eps", rise <= tol,
        f"worst-case accuracy over eps {[round(e * 255, 2) for e in radii]}/255: {[f(v) for v in seq[1:]]} "
        f"(clean {f(seq[0])}); largest rise {f(rise)}{read}", rise, tol))
    big = acc[f"seq@{large_eps}"]
    checks.append(AuditCheck(
        "large_eps_breaks_model", big <= large_max,
        f"accuracy at eps {large_eps * 255:g}/255 is {f(big)}; an unbounded-looking budget should reach about 0",
        big, large_max))
    base = acc[f"worst@{eps}"]
    checks.append(AuditCheck(
        "more_iterations_do_not_help", acc["more"] <= base + tol,
        f"more steps/restarts: {f(acc['more'])} vs {f(base)}", acc["more"] - base, tol))
    gap = max(acc[f"ce@{e}"] - acc[f"margin@{e}"] for e in radii if f"ce@{e}" in acc)
    checks.append(AuditCheck(
        "margin_not_far_stronger_than_ce", gap <= margin_gap,
        f"largest CE-minus-margin accuracy gap {f(gap)}; a large gap means saturated cross-entropy gradients",
        gap, margin_gap))
    sq = acc["square"]
    checks.append(AuditCheck(
        "whitebox_beats_blackbox", base <= sq + tol,
        f"white-box {f(base)} vs Square {f(sq)} at eps {eps * 255:g}/255", base - sq, tol))
    common = [r for r in sorted(known_transfer) if r in radii]
    if common:  # the evaluation's white-box and transfer rows, radius by radius
        gaps = {r: acc[f"seq@{r}"] - acc[f"transfer@{r}"] for r in common}
        worst_r = max(gaps, key=gaps.get)
        pairs = ", ".join(f"{f(acc[f'seq@{r}'])} vs {f(acc[f'transfer@{r}'])} at {_label(r)}" for r in common)
        checks.append(AuditCheck(
            "whitebox_beats_transfer", gaps[worst_r] <= tol,
            f"white-box vs transfer (the evaluation's rows): {pairs}", gaps[worst_r], tol))
    elif surrogate is None:
        checks.append(AuditCheck("whitebox_beats_transfer", None, "no surrogate model given"))
    else:
        tr = acc["transfer"]
        checks.append(AuditCheck(
            "whitebox_beats_transfer", base <= tr + tol,
            f"white-box {f(base)} vs transfer {f(tr)} at eps {eps * 255:g}/255", base - tr, tol))
    return [_with_remedy(c) for c in checks]


def _gradient_checks(acc, zero_tol, finite, det) -> list[AuditCheck]:
    """The checks that read gradients and outputs (any clips, correct or not)."""
    f = lambda v: f"{v:.3f}"  # noqa: E731
    zero = acc["zero_grad_ce"]
    checks = [AuditCheck(
        "no_zero_gradients", zero <= zero_tol,
        f"share of clips whose CE input gradient is exactly zero: {f(zero)} (margin loss: {f(acc['zero_grad_margin'])})",
        zero, zero_tol)]
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
