"""The config and results folder of an evaluation of a run's checkpoint: the run's own ``config.yaml``
is the base (so the training overrides need not be repeated), and results go below the run directory.

A checkpoint belongs to a run when a ``config.yaml`` sits beside it (what ``tools/train.py`` and the
study write). An explicitly given config still wins; when it differs from the run's, a note names
the keys that differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from videoabnn.config import Config, ConfigError, load_config
from videoabnn.utils.provenance import changed_components

log = logging.getLogger(__name__)
RUN_CONFIG = "config.yaml"
# keys that say where and how a tool runs, not what it evaluates (not worth a note when they differ)
RUNTIME_KEYS = ("work_dir", "threads", "device")


@dataclass
class EvalSetup:
    """What an evaluation of ``checkpoint`` runs with: its config, where results go, and the config's origin."""

    cfg: Config
    eval_root: Path | None
    config_path: Path
    run_dir: Path | None


def run_dir_of_checkpoint(checkpoint: str | Path) -> Path | None:
    """The run directory holding ``checkpoint`` (its folder, when a ``config.yaml`` is there), else None."""
    folder = Path(checkpoint).parent
    return folder if (folder / RUN_CONFIG).is_file() else None


def eval_setup(checkpoint: str | Path, config: str | Path | None = None, overrides: Iterable[str] = ()) -> EvalSetup:
    """Config and results root for evaluating ``checkpoint`` (see the module docstring).

    Results go to ``<run dir>/eval`` unless the command line sets ``work_dir`` (then ``<work_dir>/eval``,
    as for a checkpoint outside a run directory).
    """
    overrides = list(overrides)
    run_dir = run_dir_of_checkpoint(checkpoint)
    if config is None and run_dir is None:
        raise ConfigError(f"no config given and {Path(checkpoint).parent / RUN_CONFIG} not found: a checkpoint "
                          "outside a run directory needs its config (videoabnn-test CONFIG CHECKPOINT)")
    path = Path(config) if config is not None else run_dir / RUN_CONFIG
    cfg = load_config(path, overrides)
    if config is not None and run_dir is not None:
        _note_differences(cfg, run_dir / RUN_CONFIG, path, overrides)
    sets_work_dir = any(o.split("=", 1)[0].strip() == "work_dir" for o in overrides)
    eval_root = run_dir / "eval" if run_dir is not None and not sets_work_dir else None
    return EvalSetup(cfg, eval_root, path, run_dir)


def _note_differences(cfg: Config, run_config: Path, given: Path, overrides: list[str]) -> None:
    """Log which keys of the given config differ from the run's own (the given one is used)."""
    if run_config.resolve() == given.resolve():
        return
    try:
        saved = load_config(run_config, overrides).to_dict()
    except ConfigError as err:
        log.info("note: using %s as given; the run's own %s does not load (%s)", given, run_config, err)
        return
    used = cfg.to_dict()
    for key in RUNTIME_KEYS:
        saved.pop(key, None)
        used.pop(key, None)
    changed = changed_components(saved, used)
    if changed:
        log.warning("note: using %s as given; it differs from the run's own %s in: %s (pass only the checkpoint "
                    "to evaluate with the run's config)", given, run_config, "; ".join(changed))
