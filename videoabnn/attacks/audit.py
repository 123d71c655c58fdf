"""Gradient-masking audit (Carlini et al. 2019 checklist, AutoAttack-style runtime checks) and the
worst-case-per-clip robust accuracy that an honest evaluation reports.

:func:`audit_gradient_masking` measures (PGD at every radius, more steps and restarts, Square, transfer,
gradients, determinism, finite differences) and the named checks of :mod:`videoabnn.attacks.audit_checks`
judge the numbers; its parameters are one :class:`~videoabnn.audit_settings.AuditSettings`. Checks that
attack need clips the model classifies correctly: with ``min_correct`` / ``min_clean_over_chance`` set, a
model below them (an untrained one) gets "not applicable" for those checks and for the audit as a whole
(``passed`` None), not a verdict it cannot support.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from videoabnn.attacks.audit_checks import NEEDS_CORRECT, Evidence, judge, label
from videoabnn.attacks.base import Attack, attack_mode
from videoabnn.attacks.blackbox import Square, Transfer
from videoabnn.attacks.gradcheck import GradientCheck, check_gradient
from videoabnn.attacks.gradient import PGD
from videoabnn.attacks.losses import attack_loss
from videoabnn.attacks.universal import _batch_xy
from videoabnn.audit_settings import AuditSettings
from videoabnn.results import AuditCheckResult as AuditCheck  # one checklist item (the results schema's)
from videoabnn.threats import TRANSFER, WHITE

__all__ = ["AUDIT_VERSION", "NEEDS_CORRECT", "AuditCheck", "AuditReport", "AuditSettings", "EvaluationReuse",
           "audit_gradient_masking", "worst_case_correct"]

# Bump when the audit gains or changes a check, so cached audit reports are recomputed.
AUDIT_VERSION = 2
SAME_RADIUS = 1e-9  # radii this close are one radius (a reused radius on the audit's grid; "within eps")


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


# --------------------------------------------------------------------------- what is audited
@dataclass
class _Clips:
    """The audited batches on the model's device, each batch's clean verdicts and the number of classes."""

    data: list[tuple[Tensor, Tensor]]
    clean: list[Tensor]
    classes: int

    @property
    def n(self) -> int:
        return sum(int(x.shape[0]) for x, _ in self.data)

    @property
    def correct(self) -> int:
        return int(sum(int(c.sum()) for c in self.clean))


def _read_clips(model: nn.Module, batches: Iterable, max_batches: int | None) -> _Clips:
    """The batches (``(x, y)`` or ``{"clip", "label"}``), at most ``max_batches``, with their clean pass."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    batches = list(batches)[:max_batches] if max_batches is not None else list(batches)
    clips = _Clips([], [], 0)
    for batch in batches:
        x, y = _batch_xy(batch)
        x, y = x.to(device), y.to(device).long()
        with attack_mode(model), torch.no_grad():
            logits = model(x)
        clips.data.append((x, y))
        clips.clean.append(logits.argmax(dim=1) == y)
        clips.classes = int(logits.shape[1])
    if clips.n == 0:
        raise ValueError("audit_gradient_masking: no batches given")
    return clips


@dataclass
class _Plan:
    """The radii the audit attacks, those it reads from an evaluation, and the sequence of both."""

    attacked: list[float]
    radii: list[float]
    white: dict[float, Tensor]
    transfer: dict[float, Tensor]


def _plan(s: AuditSettings, reuse: EvaluationReuse | None, n: int) -> _Plan:
    """``eps``, ``large_eps`` and the radii of ``eps_list`` that ``reuse`` does not cover are attacked; a reused
    radius on that grid counts as the grid's radius."""
    known = {float(r): v for r, v in (reuse.white if reuse is not None else {}).items()}
    attacked = [e for e in sorted(set(s.eps_list) | {s.eps, s.large_eps})
                if e in (s.eps, s.large_eps) or not any(abs(e - r) <= SAME_RADIUS for r in known)]

    def on_grid(r: float) -> float:
        return next((e for e in attacked if abs(e - r) <= SAME_RADIUS), r)

    white = {on_grid(r): v for r, v in known.items()}
    transfer = {on_grid(float(r)): v for r, v in (reuse.transfer if reuse is not None else {}).items()}
    for what, rows in ((WHITE, white), (TRANSFER, transfer)):
        for r, v in rows.items():
            if len(v) != n:
                raise ValueError(f"audit_gradient_masking: reuse.{what}[{r}] has {len(v)} entries for {n} audited clips")
    return _Plan(attacked, sorted(set(attacked) | set(white)), white, transfer)


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


# --------------------------------------------------------------------------- measuring
@dataclass
class _Tally:
    """Clip counts summed over the batches (by the keys of ``audit_checks``) and the gradient findings."""

    counts: dict[str, float] = field(default_factory=dict)
    finite: bool = True
    output_diff: float = 0.0
    gradient: GradientCheck | None = None

    def add(self, key: str, value: Tensor | float) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + float(value.float().sum() if isinstance(value, Tensor) else value)


@dataclass
class _Run:
    """The audit of one model: its attacks, the plan, the progress bar and the tally they fill."""

    model: nn.Module
    surrogate: nn.Module | None  # attacked for white-box vs transfer (None: no surrogate, or its rows are read)
    settings: AuditSettings
    seed: int
    plan: _Plan
    bar: Any
    tally: _Tally = field(default_factory=_Tally)

    def pgd(self, e: float, loss: str, steps: int | None = None, restarts: int = 1) -> PGD:
        k = steps or self.settings.steps
        return PGD(self.model, eps=e, alpha=2.5 * e / k, steps=k, restarts=restarts, loss=loss,
                   frames=self.settings.frames, seed=self.seed)


def _hits(model: nn.Module, attack: Attack, x: Tensor, y: Tensor, idx: Tensor | None) -> Tensor:
    """Correct after ``attack``, per clip; with ``idx`` only those clips are attacked (the others: False)."""
    if idx is None:
        return _predict(model, attack(x, y)) == y
    out = torch.zeros_like(y, dtype=torch.bool)
    if idx.numel():
        out[idx] = _predict(model, attack(x[idx], y[idx])) == y[idx]
    return out


def _pgd_radii(run: _Run, hits: Callable[[Attack], Tensor], clean: Tensor, rows: slice) -> Tensor:
    """CE and margin PGD at every attacked radius (accuracy_falls_with_eps, large_eps_breaks_model,
    margin_not_far_stronger_than_ce) and the sequence with the reused radii; returns the correct after eps."""
    add, plan, worst, white_at = run.tally.add, run.plan, clean.clone(), {}
    for e in plan.attacked:
        run.bar.set_postfix_str(f"PGD at eps {e * 255:g}/255")
        ce, mg = hits(run.pgd(e, "ce")), hits(run.pgd(e, "margin"))
        add(f"ce@{e}", ce)
        add(f"margin@{e}", mg)
        add(f"worst@{e}", ce & mg & clean)
        white_at[e] = ce & mg & clean
        if e == run.settings.eps:
            worst &= ce & mg
        run.bar.update()
    for r in plan.radii:  # the worst case at each radius: the audit's PGD and the evaluation's attacks
        seq = white_at.get(r, clean)
        if r in plan.white:
            seq = seq & plan.white[r][rows].to(clean.device)
        add(f"seq@{r}", seq)
    return worst


def _beyond_pgd(run: _Run, hits: Callable[[Attack], Tensor], clean: Tensor, worst: Tensor) -> Tensor:
    """More steps and restarts (more_iterations_do_not_help), Square (whitebox_beats_blackbox) and the
    surrogate's transfer PGD (whitebox_beats_transfer) at eps; returns ``worst`` narrowed by them."""
    s, add = run.settings, run.tally.add
    run.bar.set_postfix_str(f"{s.more_steps} steps x {s.restarts} restarts")
    more = hits(run.pgd(s.eps, "ce", s.more_steps, s.restarts)) & hits(run.pgd(s.eps, "margin", s.more_steps, s.restarts))
    add("more", more & clean)
    worst = worst & more
    run.bar.update()
    run.bar.set_postfix_str(f"Square, {s.square_queries} queries")
    sq = hits(Square(run.model, eps=s.eps, queries=s.square_queries, p_init=s.square_p_init, frames=s.frames,
                     seed=run.seed))
    add("square", sq & clean)
    worst = worst & sq
    run.bar.update()
    if run.surrogate is not None:
        run.bar.set_postfix_str(TRANSFER)
        tr = hits(Transfer(run.model, surrogate=run.surrogate, attack="pgd", eps=s.eps, alpha=2.5 * s.eps / s.steps,
                           steps=s.steps, frames=s.frames, seed=run.seed))
        add(TRANSFER, tr & clean)
        worst = worst & tr
        run.bar.update()
    return worst


def _attack_batch(run: _Run, x: Tensor, y: Tensor, clean: Tensor, rows: slice) -> None:
    """The checks that attack, on one batch; the per-clip worst case at eps (the robust accuracy) with the
    evaluation's attacks within eps."""
    idx = clean.nonzero().flatten() if run.settings.correct_only else None

    def hits(attack: Attack) -> Tensor:
        return _hits(run.model, attack, x, y, idx)

    worst = _beyond_pgd(run, hits, clean, _pgd_radii(run, hits, clean, rows))
    for r, v in [*run.plan.white.items(), *run.plan.transfer.items()]:
        if r <= run.settings.eps + SAME_RADIUS:  # an attack within the audit's ball is an attack at eps
            worst &= v[rows].to(worst.device)
    for r, v in run.plan.transfer.items():
        run.tally.add(f"transfer@{r}", v[rows].to(clean.device) & clean)
    run.tally.add("worst", worst)


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


def _gradient_batch(run: _Run, x: Tensor, y: Tensor) -> None:
    """no_zero_gradients, finite_gradients, deterministic_outputs on one batch (any clips), and the
    finite-difference check on the first batch's first ``gradcheck_clips`` clips."""
    s, tally = run.settings, run.tally
    run.bar.set_postfix_str("gradients and determinism")
    zero_ce, zero_mg, finite = _grad_stats(run.model, x, y)
    tally.add("zero_grad_ce", zero_ce)
    tally.add("zero_grad_margin", zero_mg)
    tally.finite &= finite
    with attack_mode(run.model), torch.no_grad():
        a, b = run.model(x), run.model(x)
    tally.output_diff = max(tally.output_diff, float((a - b).abs().max() / (1.0 + a.abs().max())))
    if tally.gradient is None:
        tally.gradient = check_gradient(run.model, x[:s.gradcheck_clips], directions=s.gradcheck_directions,
                                        steps=tuple(s.gradcheck_steps), tol=s.gradcheck_tol, seed=run.seed)
    run.bar.update()


def _measure(run: _Run, clips: _Clips, judged: bool) -> None:
    """Every batch: the attacks (when the model can be judged), then the gradients."""
    offset = 0
    for (x, y), clean in zip(clips.data, clips.clean):
        rows = slice(offset, offset + x.shape[0])
        offset += x.shape[0]
        run.tally.add("clean", clean)
        if judged:
            _attack_batch(run, x, y, clean, rows)
        _gradient_batch(run, x, y)
    run.bar.close()


# --------------------------------------------------------------------------- the report
def _settings_record(s: AuditSettings, seed: int, plan: _Plan, tol: float, reuse: EvaluationReuse | None) -> dict:
    """The report's ``settings`` (the same keys as every earlier report, so cached ones stay comparable)."""
    out = {"eps": s.eps, "eps_list": plan.radii, "steps": s.steps, "more_steps": s.more_steps, "restarts": s.restarts,
           "square_queries": s.square_queries, "square_p_init": s.square_p_init, "tol": tol, "seed": seed,
           "frames": s.frames, "gradcheck_clips": s.gradcheck_clips, "gradcheck_directions": s.gradcheck_directions,
           "gradcheck_steps": [float(h) for h in s.gradcheck_steps], "gradcheck_tol": s.gradcheck_tol,
           "audit_version": AUDIT_VERSION}
    if s.min_correct or s.min_clean_over_chance:
        out.update(min_correct=int(s.min_correct), min_clean_over_chance=float(s.min_clean_over_chance))
    if s.correct_only:
        out["correct_only"] = True
    if reuse is not None:
        out.update(attacked_eps=plan.attacked, reused={k: list(v) for k, v in reuse.attacks.items()})
    return out


def _metrics(acc: Mapping[str, float], run: _Run, clips: _Clips, why: str | None, reused: bool) -> dict:
    """The numbers behind the checks."""
    plan, tally = run.plan, run.tally
    out: dict[str, Any] = {"clips": clips.n, "clean_acc": acc["clean"]}
    if why is not None:
        out.update(correct_clips=clips.correct, classes=clips.classes)
    else:
        out.update({
            "pgd_ce_acc": {label(e): acc[f"ce@{e}"] for e in plan.attacked},
            "pgd_margin_acc": {label(e): acc[f"margin@{e}"] for e in plan.attacked},
            "worst_acc": {label(e): acc[f"worst@{e}"] for e in plan.attacked},
            "more_steps_acc": acc["more"],
            "square_acc": acc["square"],
            "transfer_acc": acc.get(TRANSFER),
        })
        if reused:
            out["eps_sequence_acc"] = {label(r): acc[f"seq@{r}"] for r in plan.radii}
            out["reused_transfer_acc"] = {label(r): acc[f"transfer@{r}"] for r in sorted(plan.transfer)}
    out.update({"zero_grad_share_ce": acc["zero_grad_ce"], "zero_grad_share_margin": acc["zero_grad_margin"],
                "output_max_rel_diff": tally.output_diff, "gradient_check": tally.gradient.to_dict()})
    return out


def audit_gradient_masking(model: nn.Module, batches: Iterable, surrogate: nn.Module | None = None, *,
                           settings: AuditSettings | None = None, seed: int = 0, reuse: EvaluationReuse | None = None,
                           show_progress: bool = True, **changes: Any) -> AuditReport:
    """Run the gradient-masking checklist on ``batches`` and report the numbers behind each check.

    PGD (CE and margin loss) at every radius, more steps and restarts, Square and (with ``surrogate``)
    transfer at ``eps``; zero, non-finite and non-deterministic outputs; a finite-difference check of the
    input gradient. All radii are Linf, in [0, 1] pixel units; accuracies are fractions of the clips.
    The checks are the functions of :mod:`videoabnn.attacks.audit_checks`; the parameters (and which check
    needs which) are the fields of :class:`~videoabnn.audit_settings.AuditSettings`.

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

    The defaults are the thorough audit (the robustness study passes its own ``study.audit`` on top of
    them); ``tools/test.py`` runs a bounded one, about the cost of a quick evaluation (``eval.audit_budget``:
    5 steps, 10 more steps x 1 restart, 50 Square queries, 1 gradient-check clip x 2 directions, at most
    16 clips, 4/255 read from the evaluation where it attacked that radius).

    Args:
        model: the classifier under audit, on (N, C, T, H, W) clips in [0, 1] returning logits.
        batches: (x, y) pairs or ``{"clip", "label"}`` dicts (read once, into a list).
        surrogate: a second classifier for the white-box-beats-transfer check; None skips it. Default: None.
        settings: the audit's parameters; None: the defaults of ``AuditSettings``. Default: None.
        seed: seed of every attack. Default: 0.
        reuse: per-clip results of an evaluation on the same clips (:class:`EvaluationReuse`), read
            instead of re-attacking. Default: None.
        show_progress: show a progress bar. Default: True.
        **changes: ``AuditSettings`` fields by name, replacing those of ``settings`` (``steps=5``).

    Returns:
        The report: ``checks``, ``metrics``, ``settings``, ``robust_accuracy`` (the per-clip worst case
        over every attack run at ``eps``, and with ``reuse`` the evaluation's attacks within ``eps``) and
        ``not_applicable`` (why the model cannot be judged, or None).

    Examples:
        >>> report = audit_gradient_masking(model, [(x, y)], settings=AuditSettings(eps=8 / 255, max_batches=1))
        >>> report.passed, [c.name for c in report.failed()]
    """
    s = (settings if settings is not None else AuditSettings()).replace(**changes)
    clips = _read_clips(model, batches, s.max_batches)
    plan = _plan(s, reuse, clips.n)
    why = _applicability(clips.correct, clips.n, clips.classes, int(s.min_correct), float(s.min_clean_over_chance))
    attacked_surrogate = surrogate if not plan.transfer else None
    per_batch = (len(plan.attacked) + 2 + (attacked_surrogate is not None)) if why is None else 0
    bar = tqdm(total=len(clips.data) * (per_batch + 1), desc="gradient-masking audit", leave=False,
               dynamic_ncols=True, disable=not show_progress)
    run = _Run(model, attacked_surrogate, s, seed, plan, bar)
    _measure(run, clips, judged=why is None)
    acc = {k: v / clips.n for k, v in run.tally.counts.items()}
    tol = max(0.02, 1.0 / clips.n) if s.tol is None else s.tol
    evidence = Evidence(acc, s, tol, plan.radii, tuple(plan.white), tuple(plan.transfer),
                        reuse.attacks if reuse is not None else {}, surrogate is not None, run.tally.finite,
                        run.tally.output_diff, run.tally.gradient)
    checks = judge(evidence, why)
    not_applicable = None
    if why is not None:
        bad = [c.name for c in checks if c.passed is False]
        not_applicable = why + ("; of the checks that need no correct clips, failed: " + ", ".join(bad) if bad else "")
    return AuditReport(checks, _metrics(acc, run, clips, why, reuse is not None),
                       _settings_record(s, seed, plan, tol, reuse), robust_accuracy=None if why else acc["worst"],
                       not_applicable=not_applicable)
