"""GPU throughput: AMP training, PGD-10 and I3D inference in clips/s, with peak memory, in under 5 minutes.

What it measures (one GPU; every figure is clips per second over timed steps after warm-up steps, with
``torch.cuda.synchronize()`` before and after each timed step, and the CUDA allocator's peak memory of that
measurement, ``torch.cuda.max_memory_allocated``, reset between measurements):

- ``train/<model>``: a training step as ``videoabnn.engine.trainer`` runs one: a pinned host batch copied with
  ``non_blocking=True``, ``channels_last_3d`` model and input, ``cudnn.benchmark`` (``set_determinism(False)``),
  the method's objective under ``torch.autocast`` (fp16 by default, as ``train.amp: auto`` gives, with a
  ``GradScaler``; ``--amp bf16`` without one), ``zero_grad`` / ``scaler.scale(loss).backward()`` /
  ``scaler.step`` / ``scaler.update`` of the trainer's SGD (``build_optimizer``) and its ``loss.item()``. Models:
  ``r3d_18``, ``resnext3d_101`` and ABNN (target ``resnext3d_101``, substitute ``resnet3d_18`` with
  ``substitute_kwargs={"shortcut": "A"}``, frozen as ABNN freezes it; method ``abnn``), 101 classes, 16x112x112
  clips, random weights and data.
- ``fwdbwd/<model>`` and ``pgd10/<model>``: one forward + backward to the input, and PGD-10 (Linf 4/255, step
  1/255, random start; ``build_attack("pgd", ...)``) on the same three models in eval mode (``attack_mode``),
  white-box through everything (ABNN: through the substitute and the target). Attacks run as the evaluator
  runs them: full precision (the training objectives also turn autocast off to craft) and the default memory
  format; cuDNN's TF32 setting is the torch default and is printed.
- ``infer/i3d``: I3D inference (``create_model("i3d", 400)``, random weights) at 64x224x224 under autocast and
  ``no_grad``, as validation runs it.
- ratios: ABNN over ResNeXt-101 alone (time per clip, training and PGD-10), and PGD-10 time over 10 x one
  forward+backward per model (the floor of a 10-step gradient attack).

Run it on a lent GPU (sized for an H200's memory, by estimate: a batch that does not fit is retried at half
its size and marked; ``--time-budget 270`` starts nothing after 270 s and cuts timed steps short there, so a
run should end within 5 minutes):

    python benchmarks/record.py bench_gpu.py              # figures land in benchmarks/README.md
    python benchmarks/bench_gpu.py --json gpu.json        # or just print (and write every figure as JSON)

Options: ``--batch 16`` (every model) or ``--batch r3d_18=64,abnn=24,i3d=8`` (some); ``--steps`` timed steps
(warm-up ``--warmup``; PGD: ``--attack-repeats`` timed attacks after one warm-up attack); ``--amp
auto|fp16|bf16|off``; ``--only train,pgd10/abnn`` (measurement names containing one of these);
``--time-budget`` seconds (later measurements are skipped with a note once it is spent; a measurement that
runs out of GPU memory is retried at half its batch; one that fails otherwise is reported, the others still
run, and the exit status is 1 so that ``record.py`` writes nothing).

``--tiny`` is the CPU-sized check of every code path (tests/package/test_bench_gpu.py runs it): 4 frames at
32x32, batch 2, 1 warm-up + 2 timed steps, stand-ins with the same roles (``tiny_r3d`` width 8 for ``r3d_18``,
``tiny_r3d`` width 8 with 2 blocks per stage for ResNeXt-101 and ABNN's target, ``resnet3d_18`` width 8 with
shortcut A as ABNN's frozen substitute, I3D itself at its minimum of 9 frames at 32x32) and bf16 autocast on
CPU. The trained stand-ins have 3x3x3 stems because torch's CPU bf16 backward of the 7x7x7 Hara stem on
4-frame clips corrupts the heap (torch 2.14.1: an abort in ``free()``; fp32, 8 frames and the 3x3x3 stem were
fine; the CUDA kernels are different ones, not checked for it here).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from videoabnn.attacks import build_attack  # noqa: E402
from videoabnn.attacks.base import attack_mode  # noqa: E402
from videoabnn.defenses import build_objective  # noqa: E402
from videoabnn.engine.trainer import build_optimizer, set_determinism  # noqa: E402
from videoabnn.models import create_model  # noqa: E402

PGD_STEPS = 10
PGD_EPS, PGD_ALPHA = 4 / 255, 1 / 255
TRAINED = ("r3d_18", "resnext3d_101", "abnn")
NO_PEAK = "CUDA only (torch.cuda.max_memory_allocated)"


@dataclass(frozen=True)
class Spec:
    """One benchmarked model: its registry name and arguments, batch, clip size and training method."""

    key: str
    arch: str
    kwargs: dict = field(default_factory=dict)
    num_classes: int = 101
    batch: int = 2
    frames: int = 16
    size: int = 112
    method: str = "standard"
    stand_in: str = ""  # --tiny: what this model stands in for, shown in the table

    def build(self) -> nn.Module:
        return create_model(self.arch, self.num_classes, **self.kwargs)

    @property
    def label(self) -> str:
        return f"{self.key} ({self.stand_in})" if self.stand_in else self.key


ABNN_KW = {"target": "resnext3d_101", "substitute": "resnet3d_18", "substitute_kwargs": {"shortcut": "A"}}
FULL = {
    "r3d_18": Spec("r3d_18", "r3d_18", batch=64),
    "resnext3d_101": Spec("resnext3d_101", "resnext3d_101", batch=32),
    "abnn": Spec("abnn", "abnn", ABNN_KW, batch=32, method="abnn"),
    "i3d": Spec("i3d", "i3d", num_classes=400, batch=8, frames=64, size=224),
}
TINY_TARGET = {"width": 8, "depth": 2}
TINY = {
    "r3d_18": Spec("r3d_18", "tiny_r3d", {"width": 8}, frames=4, size=32, stand_in="tiny_r3d w8"),
    "resnext3d_101": Spec("resnext3d_101", "tiny_r3d", TINY_TARGET, frames=4, size=32,
                          stand_in="tiny_r3d w8 d2"),
    "abnn": Spec("abnn", "abnn", {"target": "tiny_r3d", "target_kwargs": TINY_TARGET, "substitute": "resnet3d_18",
                                  "substitute_kwargs": {"shortcut": "A", "width": 8}},
                 frames=4, size=32, method="abnn", stand_in="tiny_r3d w8 d2 + resnet3d_18 w8 A"),
    "i3d": Spec("i3d", "i3d", num_classes=400, frames=9, size=32, stand_in="9x32x32"),
}


# --------------------------------------------------------------------------- helpers
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fresh_memory(device: torch.device) -> None:
    """Free what the last measurement left and reset the allocator's peak."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def timed(fn: Callable[[], Any], device: torch.device, steps: int, warmup: int, deadline: float) -> list[float]:
    """Seconds of each of ``steps`` timed calls of ``fn`` after ``warmup`` untimed ones, synchronized around
    each call; stops early (after at least one timed call) once ``deadline`` (perf_counter) has passed."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return times


def clips(spec: Spec, batch: int, device: torch.device, pinned: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch in [0, 1] and its labels (on the host, pinned when asked, or on ``device``)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, spec.frames, spec.size, spec.size, generator=gen)
    y = torch.randint(0, spec.num_classes, (batch,), generator=gen)
    if pinned:
        return x.pin_memory(), y.pin_memory()
    return x.to(device), y.to(device)


def to_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x


def place(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    return model.to(device, memory_format=torch.channels_last_3d) if channels_last else model.to(device)


@dataclass
class Settings:
    device: torch.device
    amp: bool
    dtype: torch.dtype | None
    scaler: bool
    channels_last: bool
    steps: int
    warmup: int
    attack_repeats: int

    @property
    def precision(self) -> str:
        if not self.amp:
            return "fp32"
        name = {torch.float16: "fp16", torch.bfloat16: "bf16"}[self.dtype]
        return f"{name}+scaler" if self.scaler else name


# --------------------------------------------------------------------------- measurements
def measure_train(spec: Spec, batch: int, s: Settings, deadline: float) -> dict:
    """The trainer's step (see the module docstring); returns the timing record."""
    device = s.device
    model = place(spec.build(), device, s.channels_last)
    model.train()
    objective = build_objective(spec.method)
    objective.start_epoch(model, 0, 0)
    optimizer = build_optimizer(model, {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-4,
                                        "method": spec.method})
    scaler = torch.amp.GradScaler(device.type, enabled=s.scaler)
    host_x, host_y = clips(spec, batch, device, pinned=device.type == "cuda")
    nonfinite = [0]

    def step() -> None:
        x = to_format(host_x.to(device, non_blocking=True), s.channels_last)
        y = host_y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=s.dtype, enabled=s.amp):
            out = objective(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(out.loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if not math.isfinite(out.loss.item()):  # the trainer's per-step loss read (a sync, as in training)
            nonfinite[0] += 1

    times = timed(step, device, s.steps, s.warmup, deadline)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"times": times, "precision": s.precision, "trainable_params": trainable, "frozen_params": frozen,
            "nonfinite_losses": nonfinite[0], "warmup": s.warmup}


def measure_attack_pair(spec: Spec, batch: int, s: Settings, deadline: float, names: list[str]) -> dict[str, dict]:
    """``fwdbwd``: one forward + backward to the input; ``pgd10``: PGD-10 Linf 4/255; both fp32, eval mode,
    on one model built once (peak memory reset between the two)."""
    device = s.device
    model = spec.build().to(device).eval()  # the evaluator's default memory format
    x, y = clips(spec, batch, device, pinned=False)
    out: dict[str, dict] = {}

    def fwd_bwd() -> None:
        with attack_mode(model), torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            torch.autograd.grad(nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)

    attack = build_attack("pgd", model, eps=PGD_EPS, alpha=PGD_ALPHA, steps=PGD_STEPS, seed=0)
    for name in names:
        fresh_memory(device)
        if name.startswith("fwdbwd"):
            times = timed(fwd_bwd, device, s.steps, s.warmup, deadline)
            out[name] = {"times": times, "precision": "fp32", "warmup": s.warmup}
        else:
            times = timed(lambda: attack(x, y), device, s.attack_repeats, 1, deadline)
            out[name] = {"times": times, "precision": "fp32", "warmup": 1, "attack": "pgd linf eps=4/255 "
                         f"alpha=1/255 steps={PGD_STEPS} random_start"}
        out[name]["peak_mem_mib"] = peak_mib(device)
    return out


def measure_infer(spec: Spec, batch: int, s: Settings, deadline: float) -> dict:
    device = s.device
    model = place(spec.build(), device, s.channels_last).eval()
    x, _ = clips(spec, batch, device, pinned=False)
    x = to_format(x, s.channels_last)

    @torch.no_grad()
    def run() -> None:
        with torch.autocast(device_type=device.type, dtype=s.dtype, enabled=s.amp):
            model(x).float()

    return {"times": timed(run, device, s.steps, s.warmup, deadline), "precision": s.precision,
            "warmup": s.warmup}


# --------------------------------------------------------------------------- the run
def machine(device: torch.device) -> dict:
    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": str(device),
                            "python": platform.python_version()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"sm_{props.major}{props.minor}", cudnn=torch.backends.cudnn.version(),
                    cudnn_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
        info["line"] = (f"GPU {props.name} ({info['gpu_memory_gib']} GiB, {info['capability']}), torch "
                        f"{torch.__version__}, CUDA {torch.version.cuda}, cuDNN {info['cudnn']}, "
                        f"TF32 conv {info['cudnn_tf32']} / matmul {info['matmul_tf32']}")
    else:
        cpu = platform.processor() or platform.machine()
        try:
            cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                       if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        info.update(cpu=cpu, threads=torch.get_num_threads())
        info["line"] = (f"CPU {cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__} "
                        f"(CUDA build {torch.version.cuda}; no GPU used: peak memory not measured)")
    return info


def parse_batches(text: str | None, specs: dict[str, Spec]) -> dict[str, int]:
    """``--batch``: one number for every model or ``name=n,...`` for some."""
    batches = {k: v.batch for k, v in specs.items()}
    if not text:
        return batches
    if "=" not in text:
        return dict.fromkeys(batches, int(text))
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in batches:
            raise SystemExit(f"error: --batch: unknown model {name!r} (expected {', '.join(batches)})")
        batches[name.strip()] = int(value)
    if min(batches.values()) < 1:
        raise SystemExit("error: --batch: batch sizes must be >= 1")
    return batches


def plan() -> list[tuple[str, str]]:
    """(measurement name, model key), cheapest first so that a spent budget drops the costliest."""
    items = [(f"train/{k}", k) for k in TRAINED] + [("infer/i3d", "i3d")]
    for k in TRAINED:
        items += [(f"fwdbwd/{k}", k), (f"pgd10/{k}", k)]
    return items


def is_oom(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in text or "alloc_failed" in text


def run_item(kind: str, spec: Spec, batch: int, s: Settings, deadline: float, names: list[str]) -> dict[str, dict]:
    """Measure ``names`` (one, or the fwdbwd/pgd10 pair) at ``batch``; on a GPU out-of-memory, retry at half
    the batch. Each record gets clips/s, ms per batch, the batch used and the peak memory."""
    tried = batch
    while True:
        fresh_memory(s.device)
        try:
            if kind == "train":
                records = {names[0]: measure_train(spec, tried, s, deadline)}
            elif kind == "infer":
                records = {names[0]: measure_infer(spec, tried, s, deadline)}
            else:
                records = measure_attack_pair(spec, tried, s, deadline, names)
            break
        except RuntimeError as err:
            if not is_oom(err) or tried == 1:
                raise
            tried //= 2
            print(f"  out of memory at batch {tried * 2}; retrying at batch {tried}", file=sys.stderr, flush=True)
    for record in records.values():
        times = record.pop("times")
        per_batch = sum(times) / len(times)
        record.update(model=spec.key, arch=spec.arch, stand_in=spec.stand_in or None, batch=tried,
                      batch_requested=batch, clip=f"3x{spec.frames}x{spec.size}x{spec.size}", timed_steps=len(times),
                      seconds=sum(times), ms_per_batch=1e3 * per_batch, clips_per_s=tried / per_batch,
                      step_seconds=times)
        if "peak_mem_mib" not in record:
            record["peak_mem_mib"] = peak_mib(s.device)
        if record["peak_mem_mib"] is None:
            record["peak_mem_skip"] = NO_PEAK
    return records


def ratios(m: dict[str, dict], planned: set[str] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """Ratios of time per clip where both sides were measured; the reason where not (only for ratios whose
    both sides were ``planned``, when given)."""
    out, missing = {}, {}

    def per_clip(name: str) -> float | None:
        r = m.get(name)
        return 1.0 / r["clips_per_s"] if r and r.get("clips_per_s") else None

    pairs = {"train: abnn / resnext3d_101": ("train/abnn", "train/resnext3d_101", 1),
             "pgd10: abnn / resnext3d_101": ("pgd10/abnn", "pgd10/resnext3d_101", 1)}
    for k in TRAINED:
        pairs[f"pgd10 / {PGD_STEPS} x fwdbwd: {k}"] = (f"pgd10/{k}", f"fwdbwd/{k}", PGD_STEPS)
    for label, (a, b, k) in pairs.items():
        ta, tb = per_clip(a), per_clip(b)
        if ta is None or tb is None:
            if planned is None or {a, b} <= planned:
                missing[label] = f"needs {a} and {b}"
        else:
            out[label] = ta / (k * tb)
    return out, missing


def table(results: dict, skipped: dict[str, str], failed: dict[str, str]) -> str:
    head = f"{'measurement':<22} {'model':<44} {'batch':>5} {'clip':<12} {'precision':<12} {'clips/s':>9} " \
           f"{'ms/batch':>9} {'steps':>5} {'peak MiB':>9}"
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        peak = f"{r['peak_mem_mib']:9.0f}" if r["peak_mem_mib"] is not None else f"{'n/a':>9}"
        label = f"{r['model']} ({r['stand_in']})" if r["stand_in"] else r["model"]
        batch = f"{r['batch']}" + ("*" if r["batch"] != r["batch_requested"] else "")
        lines.append(f"{name:<22} {label:<44} {batch:>5} {r['clip']:<12} {r['precision']:<12} "
                     f"{r['clips_per_s']:9.2f} {r['ms_per_batch']:9.1f} {r['timed_steps']:>5} {peak}")
    for name, why in skipped.items():
        lines.append(f"{name:<22} skipped: {why}")
    for name, why in failed.items():
        lines.append(f"{name:<22} FAILED: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="CPU-sized stand-ins and clips (checks every code path)")
    ap.add_argument("--batch", default=None, help="one batch for all models, or name=n,... "
                    "(models: r3d_18, resnext3d_101, abnn, i3d)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 10, tiny 2)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed warm-up steps (default 3, tiny 1)")
    ap.add_argument("--attack-repeats", type=int, default=None, help="timed PGD-10 attacks (default 3, tiny 1)")
    ap.add_argument("--amp", choices=("auto", "fp16", "bf16", "off"), default="auto",
                    help="autocast of training and inference: auto = fp16 + GradScaler on CUDA (the trainer's "
                         "train.amp), bf16 on CPU")
    ap.add_argument("--no-channels-last", action="store_true", help="keep the default memory format")
    ap.add_argument("--only", default=None, help="comma-separated parts of measurement names to run")
    ap.add_argument("--time-budget", type=float, default=270.0, help="seconds; later measurements are skipped")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch sees no CUDA device (use --device cpu --tiny)")
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    set_determinism(False)  # cudnn.benchmark, as train.deterministic: false
    specs = TINY if args.tiny else FULL
    batches = parse_batches(args.batch, specs)
    amp = args.amp != "off"
    dtype = None
    if amp:
        choice = args.amp if args.amp != "auto" else ("fp16" if device.type == "cuda" else "bf16")
        dtype = torch.float16 if choice == "fp16" else torch.bfloat16
    s = Settings(device=device, amp=amp, dtype=dtype, scaler=dtype == torch.float16,
                 channels_last=not args.no_channels_last,
                 steps=max(1, args.steps if args.steps is not None else (2 if args.tiny else 10)),
                 warmup=max(0, args.warmup if args.warmup is not None else (1 if args.tiny else 3)),
                 attack_repeats=max(1, args.attack_repeats if args.attack_repeats is not None
                                    else (1 if args.tiny else 3)))
    info = machine(device)
    items = plan()
    if args.only:
        parts = [p.strip() for p in args.only.split(",") if p.strip()]
        items = [it for it in items if any(p in it[0] for p in parts)]
    planned = {name for name, _ in items}
    settings = {"tiny": args.tiny, "precision": s.precision, "channels_last_3d": s.channels_last,
                "cudnn_benchmark": torch.backends.cudnn.benchmark, "pinned_host_batches": device.type == "cuda",
                "steps": s.steps, "warmup": s.warmup, "attack_repeats": s.attack_repeats, "batches": batches,
                "time_budget_s": args.time_budget, "pgd": f"linf eps=4/255 alpha=1/255 steps={PGD_STEPS}, fp32"}
    print(info["line"])
    print(f"settings: {'--tiny stand-ins, ' if args.tiny else ''}AMP {s.precision} (training, I3D inference), "
          f"PGD fp32; channels_last_3d {s.channels_last}; cudnn.benchmark {torch.backends.cudnn.benchmark}; "
          f"pinned host batches {device.type == 'cuda'}; {s.warmup} warm-up + {s.steps} timed steps "
          f"(PGD-10: 1 + {s.attack_repeats} attacks); budget {args.time_budget:g} s")
    abnn = specs["abnn"].kwargs
    print(f"ABNN: target {abnn['target']} {abnn.get('target_kwargs', '')}, substitute {abnn['substitute']} "
          f"{abnn['substitute_kwargs']} (frozen); 101 classes, I3D 400; PGD in the default memory format")

    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    deadline = start + args.time_budget

    def dump() -> None:
        if args.json is None:
            return
        rat, missing = ratios(results, planned)
        payload = {"script": "bench_gpu", "machine": info, "settings": settings, "measurements": results,
                   "skipped": skipped, "failed": failed, "ratios": rat, "ratios_missing": missing,
                   "total_seconds": time.perf_counter() - start}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        os.replace(tmp, args.json)

    done: set[str] = set()
    for name, key in items:
        if name in done:
            continue
        spent = time.perf_counter() - start
        kind = name.split("/")[0]
        names = [name]
        if kind in ("fwdbwd", "pgd10"):  # the pair shares one model build
            names = [n for n, k in items if k == key and n.split("/")[0] in ("fwdbwd", "pgd10")]
        if spent > args.time_budget:
            for n in names:
                skipped[n] = f"time budget of {args.time_budget:g} s spent ({spent:.0f} s elapsed)"
            done.update(names)
            continue
        print(f"[{spent:6.1f} s] {', '.join(names)} on {specs[key].label}, batch {batches[key]}",
              file=sys.stderr, flush=True)
        try:
            records = run_item(kind if kind in ("train", "infer") else "attack", specs[key], batches[key], s,
                               deadline, names)
        except Exception as err:  # report it and go on: one lent GPU run should give every other figure
            for n in names:
                failed[n] = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            print(f"  FAILED: {failed[names[0]]}", file=sys.stderr, flush=True)
            records = {}
        results.update(records)
        done.update(names)
        dump()
    fresh_memory(device)

    print()
    print(table(results, skipped, failed))
    rat, missing = ratios(results, planned)
    if rat or missing:
        print("\nratios (of time per clip):")
        for label, value in rat.items():
            print(f"  {label:<48} {value:7.3f}")
        for label, why in missing.items():
            print(f"  {label:<48} n/a ({why})")
    if any(r["batch"] != r["batch_requested"] for r in results.values()):
        print("* batch halved after running out of GPU memory at the requested one")
    if device.type != "cuda":
        print(f"peak memory: {NO_PEAK}")
    total = time.perf_counter() - start
    print(f"total {total:.1f} s")
    dump()
    if failed:
        print(f"error: {len(failed)} measurement(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
