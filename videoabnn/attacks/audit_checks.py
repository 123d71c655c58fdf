"""The gradient-masking checklist: one small named function per check, judging the numbers the audit measured.

Each check reads an :class:`Evidence` (accuracies as fractions of the audited clips, keyed as the audit counts
them: ``clean``, ``ce@<eps>``, ``margin@<eps>``, ``worst@<eps>``, ``seq@<eps>``, ``more``, ``square``,
``transfer``, ``transfer@<eps>``, ``zero_grad_ce``, ``zero_grad_margin``) and returns one
:class:`~videoabnn.results.AuditCheckResult`. `CHECKS` lists them in report order and says which need correctly
classified clips (the checks that attack); :func:`judge` runs them, or marks those "not applicable".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from videoabnn.attacks.gradcheck import GradientCheck
from videoabnn.audit_settings import AuditSettings
from videoabnn.results import AuditCheckResult as AuditCheck
from videoabnn.threats import TRANSFER, WHITE

REMEDY = ("; gradients look masked: attack through a non-differentiable input transform with BPDA "
          "(bpda: identity) and average a random one over draws with EOT (eot: k), or fix the broken gradient")
DETERMINISM_TOL = 1e-5  # deterministic_outputs: largest relative difference between two forward passes


@dataclass
class Evidence:
    """What the audit measured, for the checks to judge.

    Attributes:
        acc: accuracies (fractions of the audited clips) by the audit's count keys (see the module docstring).
        settings: the audit's settings (radii, thresholds).
        tol: the accuracy slack of the checks expecting "no higher" (``settings.tol`` or max(0.02, 1 / clips)).
        radii: every radius of the accuracy-falls-with-eps sequence (attacked or read from an evaluation).
        white_read: radii whose white-box result was read from an evaluation.
        transfer_read: radii whose transfer result was read from an evaluation.
        reused: the reused radii's labels (``"white 4/255"``) -> the evaluation's attack ids behind them.
        surrogate: whether a surrogate model was given.
        finite: logits and input gradients were finite on every clip.
        output_diff: the largest relative difference between two forward passes.
        gradient: the finite-difference check of the input gradient.
    """

    acc: Mapping[str, float]
    settings: AuditSettings
    tol: float
    radii: Sequence[float]
    white_read: Sequence[float] = ()
    transfer_read: Sequence[float] = ()
    reused: Mapping[str, Sequence[str]] = field(default_factory=dict)
    surrogate: bool = False
    finite: bool = True
    output_diff: float = 0.0
    gradient: GradientCheck | None = None


def _f(v: float) -> str:
    return f"{v:.3f}"


def label(e: float) -> str:
    """A radius in the report's words (``4/255``)."""
    return f"{e * 255:g}/255"


def accuracy_falls_with_eps(ev: Evidence) -> AuditCheck:
    """The worst-case accuracy never rises with the radius (clean first)."""
    seq = [ev.acc["clean"]] + [ev.acc[f"seq@{e}"] for e in ev.radii]
    rise = max(b - a for a, b in zip(seq[:-1], seq[1:]))
    read = ""
    if ev.white_read:
        names = sorted({a for k, v in ev.reused.items() if k.startswith(WHITE) for a in v})
        read = (f"; {', '.join(label(r) for r in sorted(ev.white_read))} read from the evaluation's attacks"
                + (f" ({', '.join(names)})" if names else ""))
    return AuditCheck(
        "accuracy_falls_with_eps", rise <= ev.tol,
        f"worst-case accuracy over eps {[round(e * 255, 2) for e in ev.radii]}/255: {[_f(v) for v in seq[1:]]} "
        f"(clean {_f(seq[0])}); largest rise {_f(rise)}{read}", rise, ev.tol)


def large_eps_breaks_model(ev: Evidence) -> AuditCheck:
    """A radius that should break any model (``large_eps``) leaves about no clip correct."""
    s = ev.settings
    big = ev.acc[f"seq@{s.large_eps}"]
    return AuditCheck(
        "large_eps_breaks_model", big <= s.large_eps_max_acc,
        f"accuracy at eps {s.large_eps * 255:g}/255 is {_f(big)}; an unbounded-looking budget should reach about 0",
        big, s.large_eps_max_acc)


def more_iterations_do_not_help(ev: Evidence) -> AuditCheck:
    """More PGD steps and restarts at ``eps`` leave no more clips correct than the plain PGD."""
    more, base = ev.acc["more"], ev.acc[f"worst@{ev.settings.eps}"]
    return AuditCheck("more_iterations_do_not_help", more <= base + ev.tol,
                      f"more steps/restarts: {_f(more)} vs {_f(base)}", more - base, ev.tol)


def margin_not_far_stronger_than_ce(ev: Evidence) -> AuditCheck:
    """At no attacked radius does the margin loss leave far fewer clips correct than cross-entropy."""
    gap = max(ev.acc[f"ce@{e}"] - ev.acc[f"margin@{e}"] for e in ev.radii if f"ce@{e}" in ev.acc)
    return AuditCheck(
        "margin_not_far_stronger_than_ce", gap <= ev.settings.margin_gap,
        f"largest CE-minus-margin accuracy gap {_f(gap)}; a large gap means saturated cross-entropy gradients",
        gap, ev.settings.margin_gap)


def whitebox_beats_blackbox(ev: Evidence) -> AuditCheck:
    """The white-box PGD at ``eps`` is at least as strong as the black-box Square attack."""
    base, sq, eps = ev.acc[f"worst@{ev.settings.eps}"], ev.acc["square"], ev.settings.eps
    return AuditCheck("whitebox_beats_blackbox", base <= sq + ev.tol,
                      f"white-box {_f(base)} vs Square {_f(sq)} at eps {eps * 255:g}/255", base - sq, ev.tol)


def whitebox_beats_transfer(ev: Evidence) -> AuditCheck:
    """White-box is at least as strong as transfer: the evaluation's rows radius by radius, else the surrogate's
    PGD at ``eps``; skipped without either."""
    common = [r for r in sorted(ev.transfer_read) if r in ev.radii]
    if common:
        gaps = {r: ev.acc[f"seq@{r}"] - ev.acc[f"transfer@{r}"] for r in common}
        worst_r = max(gaps, key=gaps.get)
        pairs = ", ".join(f"{_f(ev.acc[f'seq@{r}'])} vs {_f(ev.acc[f'transfer@{r}'])} at {label(r)}" for r in common)
        return AuditCheck("whitebox_beats_transfer", gaps[worst_r] <= ev.tol,
                          f"white-box vs transfer (the evaluation's rows): {pairs}", gaps[worst_r], ev.tol)
    if not ev.surrogate:
        return AuditCheck("whitebox_beats_transfer", None, "no surrogate model given")
    base, tr, eps = ev.acc[f"worst@{ev.settings.eps}"], ev.acc[TRANSFER], ev.settings.eps
    return AuditCheck("whitebox_beats_transfer", base <= tr + ev.tol,
                      f"white-box {_f(base)} vs transfer {_f(tr)} at eps {eps * 255:g}/255", base - tr, ev.tol)


def no_zero_gradients(ev: Evidence) -> AuditCheck:
    """Few clips (at most ``zero_grad_tol``) have an exactly zero CE input gradient."""
    zero, tol = ev.acc["zero_grad_ce"], ev.settings.zero_grad_tol
    return AuditCheck(
        "no_zero_gradients", zero <= tol,
        f"share of clips whose CE input gradient is exactly zero: {_f(zero)} (margin loss: {_f(ev.acc['zero_grad_margin'])})",
        zero, tol)


def finite_gradients(ev: Evidence) -> AuditCheck:
    """Logits and input gradients are finite."""
    return AuditCheck("finite_gradients", ev.finite, "logits and input gradients finite" if ev.finite
                      else "NaN or inf in logits or input gradients")


def deterministic_outputs(ev: Evidence) -> AuditCheck:
    """Two forward passes on the same clips agree."""
    det = ev.output_diff
    return AuditCheck("deterministic_outputs", det <= DETERMINISM_TOL,
                      f"largest relative difference between two forward passes: {det:.2e}", det, DETERMINISM_TOL)


def gradient_matches_finite_differences(ev: Evidence) -> AuditCheck:
    """The input gradient the attacks use is the model's (value: the largest relative error)."""
    g = ev.gradient
    return AuditCheck("gradient_matches_finite_differences", g.passed, g.reason(), g.max_rel_error, g.tol)


@dataclass(frozen=True)
class Check:
    """One checklist item: its name, whether it needs correctly classified clips, the function judging it and
    whether a failure points at masked gradients (its reason then names the remedy)."""

    name: str
    needs_correct: bool
    judge: Callable[[Evidence], AuditCheck]
    masking_sign: bool = False


CHECKS: tuple[Check, ...] = (
    Check("accuracy_falls_with_eps", True, accuracy_falls_with_eps),
    Check("large_eps_breaks_model", True, large_eps_breaks_model),
    Check("more_iterations_do_not_help", True, more_iterations_do_not_help),
    Check("margin_not_far_stronger_than_ce", True, margin_not_far_stronger_than_ce),
    Check("whitebox_beats_blackbox", True, whitebox_beats_blackbox, masking_sign=True),
    Check("whitebox_beats_transfer", True, whitebox_beats_transfer, masking_sign=True),
    Check("no_zero_gradients", False, no_zero_gradients, masking_sign=True),
    Check("finite_gradients", False, finite_gradients, masking_sign=True),
    Check("deterministic_outputs", False, deterministic_outputs),
    Check("gradient_matches_finite_differences", False, gradient_matches_finite_differences),
)
# The checks that attack the model: they need correctly classified clips.
NEEDS_CORRECT = tuple(c.name for c in CHECKS if c.needs_correct)


def judge(ev: Evidence, not_applicable: str | None = None) -> list[AuditCheck]:
    """Every check in report order; with ``not_applicable`` (why the model cannot be judged) the checks that
    need correct clips are not run but say so."""
    out = []
    for check in CHECKS:
        if check.needs_correct and not_applicable is not None:
            out.append(AuditCheck(check.name, None, f"not applicable: {not_applicable}"))
            continue
        result = check.judge(ev)
        if check.masking_sign and result.passed is False:
            result.reason += REMEDY
        out.append(result)
    return out
