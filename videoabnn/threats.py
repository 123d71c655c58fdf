"""The threat models an evaluation scores a model under, registered by name, and the key of one results row.

A leaf module (like :mod:`videoabnn.results` and :mod:`videoabnn.methods`): names, titles and rules only; it
imports neither torch nor the engine, report or study, so every layer reads the threat models from here.
Each :class:`ThreatModel` says how the attacker's view of the evaluated model is built, which attacks it
scores, how a spec's parameters change under it and how its rows are keyed (:class:`ResultKey`):

- ``white``: through everything the model computes (BPDA/EOT for a model behind an input transform).
- ``gray``: ABNN with the substitute's statistics hidden from the attacker (``gray_box()``).
- ``transfer``: clips crafted on the ``eval.transfer_from`` surrogate, scored on the evaluated model.
- ``naive``: white-box through an input transform as autograd sees it (no BPDA/EOT); added beside
  ``white`` automatically for a model with an attack view, so the difference is visible.
- ``physical``: a printable pattern fitted through physical EOT, scored under fresh draws and fixed
  conditions (rows ``<id>@physical:<condition>``; the attacks with a printable pattern only).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from videoabnn.capabilities import Capability, supports

WHITE, GRAY, TRANSFER, NAIVE, PHYSICAL = "white", "gray", "transfer", "naive", "physical"

# the physical threat model's rows besides the fresh-draw one (``<id>@physical``): the ideal capture, the
# fresh draws without the pattern (the camera's own cost, the control), each fixed condition, their worst case
IDEAL, CONTROL, WORST = "digital", "no_pattern", "worst"
FRESH = "fresh"  # the fresh-draw view in an attack's ``physical_views`` (its row has no condition)
PHYSICAL_PARAM = PHYSICAL  # the attack parameter (and ``study.patch_study`` key) naming the physical distribution
# the physical columns of the report, in order: (condition or None for the fresh draws, label)
PHYSICAL_REPORT_VIEWS: tuple[tuple[str | None, str], ...] = (
    (None, "fresh draws"), (CONTROL, "no pattern, same draws"), (WORST, "worst fixed condition"),
    (IDEAL, "ideal capture"))


class ThreatModelError(ValueError):
    """An unknown threat-model name (the message lists the known ones)."""


def physical_views(fixed: Iterable[str]) -> tuple[str, ...]:
    """The condition rows of the physical threat model before their worst case, in results order: the ideal
    capture, the control, then each of the ``fixed`` conditions (``videoabnn.attacks.physical_eot.CONDITIONS``)."""
    return (IDEAL, CONTROL, *fixed)


@dataclass(frozen=True)
class ResultKey:
    """The key of one row of a results file's ``attacks``: ``id`` (white-box), ``id@threat`` or
    ``id@threat:condition`` (a physical condition row)."""

    attack: str
    threat: str = WHITE
    condition: str | None = None

    @property
    def view(self) -> str:
        """The row's ``threat`` field and its summary key: ``threat`` or ``threat:condition``."""
        return self.threat if self.condition is None else f"{self.threat}:{self.condition}"

    def format(self) -> str:
        """The key as results files spell it."""
        entry = _REGISTRY.get(self.threat)
        if self.condition is None and entry is not None and entry.bare_key:
            return self.attack
        return f"{self.attack}@{self.view}"

    @classmethod
    def parse(cls, key: str) -> ResultKey:
        """The parts of a results key (a key without ``@`` is a white-box row)."""
        attack, at, view = str(key).partition("@")
        return cls.of_view(attack, view) if at else cls(attack)

    @classmethod
    def of_view(cls, attack: str, view: str) -> ResultKey:
        """The key of attack ``attack``'s row under ``view`` (``threat`` or ``threat:condition``)."""
        threat, _, condition = str(view).partition(":")
        return cls(attack, threat, condition or None)

    def __str__(self) -> str:
        return self.format()


def _same(model: Any, surrogate: Callable[[], Any]) -> Any:
    """The evaluated model itself (``build_attack`` adds BPDA/EOT where the threat model is adaptive)."""
    return model


def _gray_box(model: Any, surrogate: Callable[[], Any]) -> Any:
    """ABNN's gray-box view: the weights shared, the substitute's statistics constants to the attacker."""
    return model.gray_box().eval()


def _surrogate(model: Any, surrogate: Callable[[], Any]) -> Any:
    """Another model: the attacks never see the evaluated one."""
    return surrogate()


def _every_attack(attack_class: type) -> bool:
    """Every attack has a row."""
    return True


def _printable(attack_class: type) -> bool:
    """Only attacks with a printable pattern (``physical_views``) have a row."""
    return supports(attack_class, Capability.PHYSICAL)


def _as_given(params: dict) -> dict:
    """A spec's parameters unchanged."""
    return params


def _without_bpda(params: dict) -> dict:
    """Autograd through the input transform as it is: a spec's own ``bpda``/``eot`` apply to ``white`` only."""
    params.pop("bpda", None)
    params.pop("eot", None)
    return params


def _physical_params(params: dict) -> dict:
    """One shared pattern fitted through the default distribution unless the spec sets ``pattern``/``physical``."""
    params.setdefault("pattern", "shared")
    params.setdefault(PHYSICAL_PARAM, "default")
    return params


@dataclass(frozen=True)
class ThreatModel:
    """One threat model: what the attacker sees and how its rows are made and keyed.

    Attributes:
        name: the ``eval.threat_models`` value.
        title: its label in reports (``white-box``).
        about: what the attacker sees, in one phrase.
        view: ``view(model, surrogate)`` the module the attacks differentiate through, from the evaluated
            model and a loader of the ``eval.transfer_from`` surrogate (called only where it is needed).
        requires: the capability the evaluated model must declare (None: any model).
        needs: the model it needs, in words (for the error when ``requires`` is missing).
        applies: ``applies(attack_class)`` whether it scores attacks of that class.
        adjust: ``adjust(params)`` a spec's builder parameters under it (edits and returns the dict).
        adaptive: attacks go through the BPDA/EOT view of a model that has one (``attack_view``).
        surrogate: the attacks are crafted on (and universal patterns fitted on) the surrogate.
        physical: scored under the physical views (one row per condition) instead of the crafted clips.
        chains: a spec's ``after`` applies (attack only the clips the earlier attack left correct).
        added_after: added automatically right after this threat model for a model declaring ``added_for``.
        added_for: see ``added_after``.
        bare_key: its rows are keyed by the bare attack id.
        direct: a tool attacking one model directly offers it (``videoabnn-attack-video --threat``,
            ``study.fidelity`` pipelines).
        table: the report gives it a table of its own beside the white-box numbers.
        reading: how the report's reading names it, when it gets sentences of its own.
    """

    name: str
    title: str
    about: str
    view: Callable[[Any, Callable[[], Any]], Any] = _same
    requires: Capability | None = None
    needs: str = "any model"
    applies: Callable[[type], bool] = _every_attack
    adjust: Callable[[dict], dict] = _as_given
    adaptive: bool = False
    surrogate: bool = False
    physical: bool = False
    chains: bool = True
    added_after: str | None = None
    added_for: Capability | None = None
    bare_key: bool = False
    direct: bool = False
    table: bool = True
    reading: str | None = None

    def key(self, attack: str, condition: str | None = None) -> ResultKey:
        """The key of attack ``attack``'s row (``condition``: a physical condition row)."""
        return ResultKey(attack, self.name, condition)

    def params(self, params: Mapping[str, Any]) -> dict:
        """A spec's builder parameters (without id/name/after) under this threat model, as a new dict."""
        return self.adjust(dict(params))

    def accepts(self, model: Any) -> bool:
        """Whether the evaluated ``model`` declares what this threat model needs."""
        return self.requires is None or supports(model, self.requires)


_REGISTRY: dict[str, ThreatModel] = {}


def register_threat(entry: ThreatModel) -> ThreatModel:
    """Register ``entry`` under its name (report and evaluation order is registration order)."""
    _REGISTRY[entry.name] = entry
    return entry


register_threat(ThreatModel(
    WHITE, "white-box", "everything the model computes (BPDA/EOT through an input transform)",
    adaptive=True, bare_key=True, direct=True, table=False))
register_threat(ThreatModel(
    GRAY, "gray-box", "substitute statistics hidden from the attacker", view=_gray_box,
    requires=Capability.GRAY_BOX, needs="an ABNN model (one with gray_box())", direct=True,
    reading="gray-box (the attacker differentiates through the target only)"))
register_threat(ThreatModel(
    TRANSFER, "transfer", "clips crafted on the eval.transfer_from surrogate", view=_surrogate, surrogate=True,
    reading="transfer (adversarial clips crafted on another model)"))
register_threat(ThreatModel(
    NAIVE, "naive white-box (autograd through the input transform, no BPDA/EOT)",
    "the input transform as autograd sees it", adjust=_without_bpda, added_after=WHITE,
    added_for=Capability.ATTACK_VIEW))
register_threat(ThreatModel(
    PHYSICAL, "physical", "one printable pattern, scored under fresh physical draws and fixed conditions",
    applies=_printable, adjust=_physical_params, adaptive=True, physical=True, chains=False, table=False))

THREAT_NAMES: tuple[str, ...] = tuple(_REGISTRY)
"""Every registered threat-model name, in registration order."""


def list_threats() -> list[str]:
    """Names accepted as ``eval.threat_models``, in registration order."""
    return list(_REGISTRY)


def threat_model(name: str) -> ThreatModel:
    """The threat model registered as ``name``; unknown names raise :class:`ThreatModelError` naming the known ones."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ThreatModelError(f"unknown threat model {name!r}{hint}; expected one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def threat_of_view(view: str) -> ThreatModel | None:
    """The registered threat model of a row's ``threat`` field (``physical:worst`` -> physical), else None."""
    return _REGISTRY.get(ResultKey.of_view("", view).threat)


def title(view: str) -> str:
    """A row's threat (or view) as reports name it: the registered title, else the text itself."""
    entry = _REGISTRY.get(view)
    return entry.title if entry is not None else view


def direct_threats() -> tuple[str, ...]:
    """The threat models a tool attacking one model directly offers (white, gray)."""
    return tuple(t.name for t in _REGISTRY.values() if t.direct)


def with_added(names: Sequence[str], model: Any) -> list[str]:
    """``names`` (a new list) with each threat model added automatically for ``model`` (``naive`` right after
    ``white`` for a model behind an input transform) unless already there."""
    out = list(names)
    for entry in _REGISTRY.values():
        if (entry.added_after in out and entry.name not in out and entry.added_for is not None
                and supports(model, entry.added_for)):
            out.insert(out.index(entry.added_after) + 1, entry.name)
    return out


def headline(names: Sequence[str]) -> str:
    """The threat model a results summary reports Acc_adv/Acc_all for: white-box if evaluated, else the first."""
    return WHITE if WHITE in names or not names else names[0]


def surrogate_needed(names: Iterable[str]) -> bool:
    """Whether any of the threat models ``names`` crafts on the ``eval.transfer_from`` surrogate."""
    return any(threat_model(n).surrogate for n in names)
