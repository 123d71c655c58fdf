"""Attack and threat-model specs of an evaluation: presets, names or mappings -> resolved specs.

A resolved spec is ``{"id", "name", **params}`` with ``eval.attack_args`` overrides applied; its
seed is ``run seed + position in the list``. Unknown names fail here, before any work. A spec may
name ``after: <earlier id>``: it then attacks only the clips that attack left correct (AutoAttack's
sequential design), and its row is the per-clip worst case of the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from videoabnn.errors import UserError
from videoabnn.threats import ThreatModelError, threat_model


class EvaluationError(UserError, ValueError):
    """Evaluation cannot start: bad attack list, threat model, checkpoint or data."""


def resolve_attacks(cfg: Mapping, attacks: Sequence | str | None = None) -> list[dict]:
    """Attack specs ``{"id", "name", **params}`` from a preset name, names or dicts, with overrides applied."""
    from videoabnn.attacks import ATTACK_PRESETS, list_attacks

    chosen = cfg["eval"]["attacks"] if attacks is None else attacks
    if isinstance(chosen, str):
        chosen = [chosen]
    specs: list[dict] = []
    for item in chosen or []:
        if isinstance(item, str) and item == "none":
            continue
        if isinstance(item, str) and item in ATTACK_PRESETS:
            specs += [dict(s) for s in ATTACK_PRESETS[item]]
        elif isinstance(item, str):
            specs.append({"id": item, "name": item})
        elif isinstance(item, Mapping) and "name" in item:
            specs.append({"id": item.get("id", item["name"]), **dict(item)})
        else:
            raise EvaluationError(f"eval.attacks: expected a preset ({', '.join(sorted(ATTACK_PRESETS))}), an "
                                  f"attack name or a mapping with 'name'; got {item!r}")
    known = set(list_attacks())
    for spec in specs:
        if spec["name"] not in known:
            raise EvaluationError(f"unknown attack {spec['name']!r}; known attacks: {', '.join(sorted(known))}; "
                                  f"presets: {', '.join(sorted(ATTACK_PRESETS))}")
    _apply_overrides(cfg, specs)
    ids = [s["id"] for s in specs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise EvaluationError(f"eval.attacks: attack ids must be unique, repeated: {dupes} (give each an 'id')")
    _check_after(specs)
    return specs


def _check_after(specs: list[dict]) -> None:
    """``after`` must name an attack earlier in the list."""
    for position, spec in enumerate(specs):
        after = spec.get("after")
        if after is None:
            continue
        earlier = [s["id"] for s in specs[:position]]
        if after not in earlier:
            raise EvaluationError(f"eval.attacks: {spec['id']}: after: expected the id of an earlier attack "
                                  f"({', '.join(earlier) or 'none before it'}), got {after!r}")


def _apply_overrides(cfg: Mapping, specs: list[dict]) -> None:
    """``eval.attack_args``: per-attack parameter overrides keyed by attack name or id."""
    overrides = dict(cfg["eval"].get("attack_args") or {})
    unused = set(overrides) - {s["name"] for s in specs} - {s["id"] for s in specs}
    if unused:
        raise EvaluationError(f"eval.attack_args names attacks that are not run: {sorted(unused)} "
                              f"(running: {', '.join(s['id'] for s in specs)})")
    for spec in specs:
        spec.update(overrides.get(spec["name"], {}))
        spec.update(overrides.get(spec["id"], {}))


def resolve_threats(cfg: Mapping, threat_models: Sequence[str] | None) -> list[str]:
    """Validated threat-model names (one that crafts on a surrogate needs ``eval.transfer_from``)."""
    threats = list(cfg["eval"]["threat_models"] if threat_models is None else threat_models)
    for th in threats:
        try:
            entry = threat_model(th)
        except ThreatModelError as err:
            raise EvaluationError(str(err)) from err
        if entry.surrogate and not cfg["eval"].get("transfer_from"):
            raise EvaluationError(f"threat model {th!r} needs eval.transfer_from=<surrogate checkpoint>")
    return threats


def threat_params(spec: Mapping, threat: str) -> dict:
    """A spec's builder parameters under ``threat`` (see :attr:`videoabnn.threats.ThreatModel.adjust`)."""
    return threat_model(threat).params(attack_params(spec))


def attack_params(spec: Mapping) -> dict:
    """The builder parameters of a spec (everything but id, name and after)."""
    return {k: v for k, v in spec.items() if k not in ("id", "name", "after")}


def attack_seed(cfg: Mapping, index: int) -> int:
    """The seed of the attack at ``index`` of the list: run seed + index."""
    return int(cfg["seed"]) + int(index)
