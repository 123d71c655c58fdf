"""The tutorials in docs/tutorials/ are executed, so a tutorial that stops working fails the suite.

Conventions (what a tutorial author can rely on, and must respect):

- Every fenced block whose info string starts with ``python`` runs, in file order, in ONE namespace per
  tutorial (later blocks see the names of earlier ones), as the reader would paste them into one session.
- Each tutorial runs in a fresh temporary working directory (``chdir``) that holds a symbolic link
  ``configs -> <repo>/configs``: code written for the root of a clone (``configs/ucf101/...yaml``) runs as
  written, and every relative output path (``data/``, ``work_dirs/``, ``my_videos/``) lands in the
  temporary directory.
- ``torch.set_num_threads(1)`` while a tutorial runs (restored afterwards), and ``torch.manual_seed(0)``
  before it starts (the suite's autouse fixture).
- ``bash`` (and any other) blocks are shown, never run: everything a tutorial needs is in its Python
  blocks; the shell commands beside them are the equivalent console-script lines.
- Code runs as written at tiny sizes (tiny_r3d of width 4-8, 4-8 frames of 16-32 px, a handful of
  generated videos, 1-4 epochs); comments in the code say which values a real run uses. Each tutorial
  should take at most about 15 s here (all five well under 90 s on a busy 2-core machine).
- A tutorial may register attacks, input transforms or models (that is what two of them teach): the
  registries are restored after each tutorial, so the rest of the suite sees the package's own names.
- Structure: a ``# `` title, a paragraph saying what the reader gets, steps, and a ``## Next steps``
  section; links only to other files in docs/tutorials/ (MkDocs strict mode), never outside docs/.

Each tutorial also gets its own checks below (the files it promised exist, robust accuracy <= clean
accuracy, ...), on top of the asserts that read naturally inside the tutorial itself.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = REPO / "docs" / "tutorials"
NAMES = ["evaluate-your-model", "abnn-ucf101", "patch-study", "add-an-attack", "add-a-defense"]
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def code_blocks(text: str) -> list[tuple[str, int, str]]:
    """(info string, 1-based line of the first code line, code) of every fenced block, in order."""
    return [(m.group(1).strip(), text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in FENCE.finditer(text)]


def python_blocks(text: str) -> list[tuple[int, str]]:
    return [(line, code) for info, line, code in code_blocks(text) if info.split(" ")[0] == "python"]


@pytest.fixture
def registries():
    """Snapshot the attack, transform and model registries; restore them after the tutorial."""
    from videoabnn.attacks import registry as attacks
    from videoabnn.defenses import transforms
    from videoabnn.models import registry as models

    models.list_models()  # loads the registry's plugins (abnn, feature_denoise) first, so the snapshot holds them
    saved = [(reg, dict(reg)) for reg in (attacks._REGISTRY, transforms._TRANSFORMS, models._REGISTRY)]
    yield
    for reg, copy in saved:
        reg.clear()
        reg.update(copy)


def run_tutorial(name: str, workdir: Path) -> tuple[dict, float]:
    """Execute the Python blocks of ``docs/tutorials/<name>.md`` in ``workdir``; (namespace, seconds)."""
    path = TUTORIALS / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert blocks, f"{path}: no python blocks"
    (workdir / "configs").symlink_to(REPO / "configs", target_is_directory=True)
    namespace: dict = {"__name__": f"tutorial_{name.replace('-', '_')}"}
    before_dir, before_threads = os.getcwd(), torch.get_num_threads()
    os.chdir(workdir)
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        for line, code in blocks:
            # pad with newlines so a traceback names the Markdown file and the line of the failing code
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    finally:
        os.chdir(before_dir)
        torch.set_num_threads(before_threads)
    return namespace, time.perf_counter() - start


@pytest.mark.parametrize("name", NAMES)
def test_tutorial_structure(name):
    """Title, a paragraph before the first step, a Next steps section, and links MkDocs strict accepts."""
    text = (TUTORIALS / f"{name}.md").read_text(encoding="utf-8")
    outside = FENCE.sub("", text)
    assert outside.startswith("# "), f"{name}: the first line must be the '# ' title"
    first = outside.split("\n## ")[0].split("\n", 1)[1].strip()
    assert len(first) > 100, f"{name}: a paragraph saying what the reader gets comes before the first step"
    assert "\n## Next steps" in outside, f"{name}: no '## Next steps' section"
    for target in LINK.findall(outside):
        if target.startswith(("http://", "https://", "#")):
            continue
        file = target.split("#")[0]
        assert (TUTORIALS / file).is_file() and (TUTORIALS / file).resolve().parent == TUTORIALS.resolve(), \
            f"{name}: link {target!r} is not a file in docs/tutorials/"
    for info, line, _ in code_blocks(text):
        assert info.split(" ")[0] in ("python", "bash", "text", "yaml"), f"{name}.md:{line}: fence {info!r}"


def test_every_tutorial_is_executed():
    assert sorted(p.stem for p in TUTORIALS.glob("*.md")) == sorted(NAMES)


def test_evaluate_your_model(tmp_path, registries):
    ns, seconds = run_tutorial("evaluate-your-model", tmp_path)
    print(f"evaluate-your-model: {seconds:.1f} s")
    assert (tmp_path / "my_videos" / "test.txt").is_file() and (tmp_path / "my_model.pt").is_file()
    tool = json.loads(next((tmp_path / "work_dirs" / "my_eval" / "eval").rglob("results.json")).read_text())
    assert tool["clean"]["clip_acc"] == pytest.approx(ns["clean_acc"]) and tool["num_clips"] == len(ns["test_set"])
    assert tool["summary"]["worst_case"]["white"] <= tool["clean"]["clip_acc"]
    assert 0.0 <= ns["robust_acc"] <= ns["clean_acc"] <= 1.0
    assert all(ns["robust_acc"] <= acc <= 1.0 for acc in ns["attack_acc"].values())
    checks = {c.name for c in ns["report"].checks}
    assert {"large_eps_breaks_model", "gradient_matches_finite_differences", "no_zero_gradients"} <= checks
    assert ns["report"].to_dict()["metrics"]["clips"] == len(ns["audit_batches"][0][1])


def test_abnn_ucf101(tmp_path, registries):
    ns, seconds = run_tutorial("abnn-ucf101", tmp_path)
    print(f"abnn-ucf101: {seconds:.1f} s")
    for run in ("ucf101_tiny", "ucf101_tiny_abnn"):
        assert (tmp_path / "work_dirs" / run / "best.pt").is_file()
    files = list((tmp_path / "work_dirs" / "ucf101_tiny_abnn" / "eval").rglob("results.json"))
    assert len(files) == 1 and files[0].resolve() == (tmp_path / ns["results_file"]).resolve()
    res = json.loads(files[0].read_text())
    assert res["run"]["method"] == "abnn"
    assert {"fgsm", "pgd", "fgsm@gray", "pgd@gray"} <= set(res["attacks"])
    worst = res["summary"]["worst_case"]
    assert {"white", "gray"} <= set(worst)
    assert 0.0 <= worst["white"] <= res["clean"]["clip_acc"] and worst["gray"] <= res["clean"]["clip_acc"]


def test_patch_study(tmp_path, registries):
    ns, seconds = run_tutorial("patch-study", tmp_path)
    print(f"patch-study: {seconds:.1f} s")
    assert 0.0 <= ns["sticker_acc"] <= ns["clean_acc"] and ns["patch_acc"] <= 1.0
    assert (tmp_path / "patches" / "universal_patch_0.3.pt").is_file()
    assert (tmp_path / "patches" / "universal_patch_0.3.png").is_file()
    work = tmp_path / "work_dirs" / "patch_tiny"
    assert (work / "report.md").is_file() and (work / "report.html").is_file()
    assert list((work / "patches").glob("*/universal_patch_0.25.png"))
    assert (work / "plots" / "acc_by_position.png").is_file() and list((work / "frames").glob("*.gif"))
    res = json.loads((work / "results" / "tiny.json").read_text())
    assert {"universal_patch_0.25", "universal_patch_0.5"} <= set(res["attacks"])


def test_add_an_attack(tmp_path, registries):
    from videoabnn.attacks import list_attacks

    ns, seconds = run_tutorial("add-an-attack", tmp_path)
    print(f"add-an-attack: {seconds:.1f} s")
    assert "random_sign" in list_attacks()
    attack = ns["build_attack"]("random_sign", ns["model"], eps=8 / 255, seed=1)
    x, y = ns["x"], ns["y"]
    adv = attack(x, y)
    assert ((adv - x).abs().amax() <= 8 / 255 + 1e-6) and adv.min() >= 0 and adv.max() <= 1
    res = ns["results"]
    assert "random_sign_4" in res["attacks"] and "fgsm_first2" in res["attacks"]
    assert res["summary"]["worst_case"]["white"] <= res["attacks"]["random_sign_4"]["clip_acc"]


def test_add_a_defense(tmp_path, registries):
    from videoabnn.defenses import list_transforms

    ns, seconds = run_tutorial("add-a-defense", tmp_path)
    print(f"add-a-defense: {seconds:.1f} s")
    assert "rand_disc" in list_transforms()
    assert ns["naive_grad"].abs().max() == 0 and ns["bpda_grad"].abs().max() > 0
    res = ns["results"]
    assert {"pgd", "pgd@naive"} <= set(res["attacks"]) and res["attacks"]["pgd@naive"]["threat"] == "naive"
    assert res["config"]["eval"]["input_transform"]["name"] == "rand_disc"
    assert 0.0 <= res["summary"]["worst_case"]["white"] <= res["clean"]["clip_acc"]
