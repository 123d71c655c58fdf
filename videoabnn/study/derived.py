"""Models derived from a study model: its config (data, initialisation, schedule) plus a few dotted
overrides, each trained as its own resumable ``train_<name>`` stage, and attack lists picked by id.

Used by the ABNN fidelity and clean-accuracy stages: a derived model starts from the same pretrained
weights, with the same seed and schedule, as the model it is derived from, so a difference between
the two is the overrides' doing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from videoabnn.config import Config, ConfigError
from videoabnn.study import steps
from videoabnn.study.stages import StageRunner
from videoabnn.utils.provenance import file_digest


def derived_overrides(cfg: Mapping, base: str, extra: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """``study.methods.<base>``'s overrides (and its training method) followed by ``extra``."""
    found = steps.methods(cfg)
    if base not in found:
        raise ConfigError(f"{where}.base: {base!r} is not a model of study.methods ({', '.join(found)})")
    out = dict(found[base])
    out.setdefault("train.method", base)
    out.update(dict(extra or {}))
    return out


def check_names(cfg: Mapping, names: Sequence[str], where: str) -> None:
    """Derived models need names of their own (their run folders and stages are named after them)."""
    clash = sorted(set(names) & set(steps.methods(cfg)))
    if clash:
        raise ConfigError(f"{where}: {', '.join(clash)} already name models of study.methods; give the derived "
                          "models names of their own")


def train_derived(cfg: Mapping, runner: StageRunner, name: str, overrides: Mapping[str, Any],
                  substitute: str | None) -> tuple[Config, dict]:
    """Train (or skip, when finished with the same settings) one derived model; (its config, stage outputs)."""
    run_cfg = steps.model_config(cfg, name, substitute, overrides)
    digest = file_digest(substitute) if substitute is not None and Path(substitute).is_file() else None
    out = runner.run(f"train_{name}", lambda: steps.run_training(cfg, run_cfg), files=lambda o: [o["checkpoint"]],
                     key={"config": steps.training_settings(run_cfg), "substitute": digest})
    return run_cfg, out


def pick_attacks(cfg: Mapping, wanted: Sequence[str | Mapping], where: str) -> list[dict]:
    """Resolved attack specs: an id names an attack of ``eval.attacks``, a mapping is a spec of its own."""
    from videoabnn.engine.attack_specs import EvaluationError, resolve_attacks

    known = {s["id"]: s for s in steps.attack_specs(cfg)}
    chosen = []
    for item in wanted:
        if isinstance(item, str):
            if item not in known:
                raise ConfigError(f"{where}: {item!r} is not the id of an attack of eval.attacks ({', '.join(known)}); "
                                  "give its spec as a mapping instead")
            chosen.append(dict(known[item]))
        else:
            chosen.append(dict(item))
    ids = {s.get("id", s.get("name")) for s in chosen} | {s.get("name") for s in chosen}
    args = {k: v for k, v in dict(cfg["eval"].get("attack_args") or {}).items() if k in ids}
    try:
        return resolve_attacks({"eval": {**dict(cfg["eval"]), "attack_args": args}}, chosen)
    except EvaluationError as err:
        raise ConfigError(f"{where}: {err}") from err
