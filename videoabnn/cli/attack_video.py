"""Attack a model on your own videos: ``videoabnn-attack-video VIDEO [VIDEO ...] --model NAME --pretrained W``.

Decodes the centre clip of each video (the test-split data path: short side, centre crop, [0, 1]),
prints the clean top-5, runs each attack untargeted against the label (default: the clean top-1),
prints the top-5 after it with the perturbation size and time, and writes per video
``<out>/<video>/results.json`` (the results schema), ``<attack>.mp4`` (the adversarial clip) and
``<attack>.png`` (clean / adversarial / amplified perturbation). A folder stands for its videos.

Example: videoabnn-attack-video clip.mp4 --model i3d --pretrained kinetics400 --attacks quick
``--pretrained`` is a weights tag, tag:path or file of the registry model, or a videoabnn
checkpoint (e.g. work_dirs/<run>/best.pt; ABNN too, with ``--threat gray`` for its gray-box view).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from videoabnn.cli.common import existing_file, int_in, output_dir, run_tool, threads_value
from videoabnn.threats import WHITE, direct_threats

MAX_FRAMES, MAX_SIZE = 1024, 1024  # upper bounds that catch typos before a clip fills the memory
MARKER = "REAL-VIDEOS"  # videoabnn.report.real_videos.MARKER (not imported here: --help stays fast)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="videoabnn-attack-video", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, or folders of them")
    p.add_argument("--model", default=None, help="registry model name (videoabnn.models.list_models()); not needed "
                   "for a videoabnn checkpoint")
    p.add_argument("--pretrained", default=None, help="weights tag (e.g. kinetics400), tag:path, a weights file, or "
                   "a videoabnn checkpoint")
    p.add_argument("--num-classes", type=int_in(2), default=None, help="classes of a weights file of unknown release (>= 2)")
    p.add_argument("--classes", default=None, type=existing_file("a text file with one class name per line"),
                   help="text file with one class name per line (default: the release's names, else class indices)")
    p.add_argument("--label", default=None, help="class name or index to attack (default: the clean top-1)")
    p.add_argument("--attacks", nargs="+", default=["quick"], help="presets (quick, standard, strong, real) or "
                   "attack names; default quick")
    p.add_argument("--threat", choices=direct_threats(), default=WHITE, help="gray: ABNN's gray-box view")
    p.add_argument("--frames", type=int_in(1, MAX_FRAMES), default=None,
                   help=f"frames per clip, 1..{MAX_FRAMES} (default: the model's)")
    p.add_argument("--size", type=int_in(1, MAX_SIZE), default=None,
                   help=f"crop size in pixels, 1..{MAX_SIZE} (default: the model's); short side = size*256/224")
    p.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"], help="decoder")
    p.add_argument("--out", default="work_dirs/attack_video", type=output_dir, help="output folder")
    p.add_argument("--seed", type=int_in(0), default=0, help="attack seeds: seed + position in the list (>= 0)")
    p.add_argument("--markdown", "--readme", dest="readme", default=None, metavar="FILE",
                   type=existing_file(f"a Markdown file with a <!-- {MARKER} --> block"),
                   help="also write the table into this Markdown file's REAL-VIDEOS block (docs/results.md)")
    p.add_argument("--threads", default=None, type=threads_value, metavar="N|auto", help="CPU threads for torch and "
                   "the decoders (default auto: the idle cores, never more than the physical ones)")
    p.add_argument("--debug", action="store_true", help="show the traceback of every error")
    return p


def _run(args: argparse.Namespace) -> int:
    from videoabnn.cli.video_model import load_video_model
    from videoabnn.data.clip import video_files
    from videoabnn.engine.attack_specs import EvaluationError
    from videoabnn.engine.video_attack import attack_specs
    from videoabnn.utils.threads import apply_threads

    start = time.perf_counter()
    if args.readme and f"<!-- {MARKER} -->" not in Path(args.readme).read_text(errors="replace"):
        raise EvaluationError(f"--markdown {args.readme}: no '<!-- {MARKER} -->' marker to put the table at")
    apply_threads(args.threads or "auto")
    videos = video_files(args.videos)
    try:
        specs = attack_specs(args.attacks)
    except ValueError as err:
        raise EvaluationError(f"--attacks: {err}") from err
    loaded = load_video_model(args)
    frames = args.frames or loaded.frames
    size = args.size or loaded.size
    print(f"model: {loaded.description}; clips of {frames} frames at {size}x{size}; "
          f"{len(specs)} attacks: {', '.join(s['id'] for s in specs)}")
    records, attack_seconds = [], 0.0
    for video in videos:
        record, seconds = _attack_one(args, loaded, video, specs, frames, size)
        records.append(record)
        attack_seconds += seconds
    total = time.perf_counter() - start
    print(f"\n{len(videos)} video(s), attacks {attack_seconds:.1f} s, total {total:.1f} s; results under {args.out}")
    if args.readme:
        _write_readme(args, loaded, records, frames, size, attack_seconds, total)
    return 0


def _attack_one(args, loaded, video: Path, specs: list[dict], frames: int, size: int) -> tuple[dict, float]:
    """Decode, predict, attack and write the outputs of one video; (its results dict, attack seconds)."""
    from tqdm.auto import tqdm

    from videoabnn.data.clip import load_clip, short_side_for
    from videoabnn.engine.video_attack import clip_results, probabilities, run_attacks, top_k
    from videoabnn.report.media import save_frame_grid, save_mp4
    from videoabnn.results import RunInfo
    from videoabnn.utils import environment_info
    from videoabnn.utils.io import atomic_write_json

    clip = load_clip(video, frames, size, backend=args.backend)
    x = clip.clip.unsqueeze(0)
    try:
        clean = probabilities(loaded.model, x)
    except ValueError as err:  # a model names the clips it cannot take (e.g. i3d: at least 9 frames)
        from videoabnn.engine.attack_specs import EvaluationError

        raise EvaluationError(f"--frames {frames} --size {size}: {loaded.name} cannot take these clips: {err}") from err
    label = loaded.label_index(args.label, clean)
    out = Path(args.out) / video.stem
    print(f"\n{video} ({clip.video_frames} frames at {clip.fps:.3g} fps; clip frames {clip.indices[0]}.."
          f"{clip.indices[-1]}) - attacking label {loaded.classes[label]!r}")
    print("  clean:   " + _top5_text(top_k(clean, loaded.classes)))
    outcomes = []
    bar = tqdm(total=len(specs), desc=video.name, unit="attack", leave=False, dynamic_ncols=True)
    for outcome in run_attacks(loaded.model, x, label, specs, seed=args.seed):
        outcomes.append(outcome)
        name = outcome.spec["id"]
        mp4 = save_mp4(out / f"{name}.mp4", outcome.adversarial[0], fps=max(1, round(clip.fps)), scale=1)
        save_frame_grid(out / f"{name}.png", {"clean": x[0], "adversarial": outcome.adversarial[0],
                                              "perturbation": _amplified(x[0], outcome.adversarial[0])}, scale=1)
        tqdm.write(f"  {name}: {_top5_text(top_k(outcome.probs, loaded.classes))}\n"
                   f"  {'':{len(name)}}  Linf {255 * outcome.linf:.2f}/255, L2 {outcome.l2:.3f}, "
                   f"{outcome.seconds:.1f} s -> {mp4}")
        bar.update(1)
    bar.close()
    run = RunInfo(name=loaded.name, method="attack_video", checkpoint=loaded.checkpoint,
                  checkpoint_digest=loaded.digest)
    config = {"model": loaded.name, "pretrained": args.pretrained, "threat": args.threat, "frames": frames,
              "size": size, "short_side": short_side_for(size), "attacks": [dict(s) for s in specs],
              "label": args.label}
    clip_info = {"video": str(video), "frame_indices": clip.indices, "fps": clip.fps}
    results = clip_results(run, clean, label, outcomes, loaded.classes, args.threat, args.seed, clip_info, config,
                           environment_info()).to_dict()
    atomic_write_json(out / "results.json", results)
    return results, sum(o.seconds for o in outcomes)


def _amplified(clean, adversarial):
    from videoabnn.report.media import amplify_perturbation

    return amplify_perturbation(clean, adversarial)


def _top5_text(top5: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {prob:.3f}" for name, prob in top5)


def _write_readme(args, loaded, records, frames: int, size: int, attack_seconds: float, total: float) -> None:
    from videoabnn.data.clip import short_side_for
    from videoabnn.report.real_videos import update_real_readme
    from videoabnn.study.pipeline import cpu_model
    from videoabnn.utils import environment_info

    env = environment_info()
    machine = f"{cpu_model() or env.get('machine')}, {env.get('cpu_count')} CPU cores visible, " \
              f"{env.get('torch_threads')} torch threads"
    meta = {"command": " ".join(["videoabnn-attack-video", *args.argv]), "machine": machine, "frames": frames, "size": size, "short_side": short_side_for(size),
            "model": loaded.name, "pretrained": args.pretrained, "attack_seconds": attack_seconds,
            "total_seconds": total}
    path = update_real_readme(args.readme, records, meta)
    print(f"README table written: {path}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return run_tool(_run, args)


if __name__ == "__main__":
    sys.exit(main())
