#!/usr/bin/env python
"""Universal patch / adversarial-frame study against one or several checkpoints.

Fits a universal patch (or frame) per size on the training split, then measures accuracy vs size,
a heat map by patch position and accuracy vs number of attacked frames; writes the patch images,
example clips (PNG, GIF, MP4) and report.md/report.html under the config's work dir.

  python tools/patch_study.py configs/patch_study/synthetic.yaml
  python tools/patch_study.py configs/patch_study/synthetic.yaml \\
      --checkpoints standard=work_dirs/study/runs/standard/last.pt abnn=work_dirs/study/runs/abnn/last.pt
"""

from __future__ import annotations

import argparse
import sys

from videoabnn.config import ConfigError, config_from_dict, load_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="config with a study.patch_study section, e.g. configs/patch_study/synthetic.yaml")
    p.add_argument("overrides", nargs="*", help="key=value config overrides")
    p.add_argument("--checkpoints", nargs="+", metavar="NAME=PATH", help="replace study.patch_study.checkpoints")
    return p.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from videoabnn.utils.logs import setup_console

    setup_console()
    from videoabnn.study.patch import run_patch_study

    try:
        cfg = load_config(args.config, args.overrides)
        if args.checkpoints:
            pairs = [item.split("=", 1) for item in args.checkpoints]
            if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
                raise ConfigError(f"--checkpoints: expected NAME=PATH items, got {args.checkpoints}")
            data = cfg.to_dict()
            data.setdefault("study", {}).setdefault("patch_study", {})["checkpoints"] = dict(pairs)
            cfg = config_from_dict(data)
        if not cfg.get("work_dir"):
            cfg["work_dir"] = f"work_dirs/{cfg['name']}"
        paths = run_patch_study(cfg)
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {paths['markdown']}\n        {paths['html']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
