"""Config values are checked at load time: one line naming the source, the key, what was expected and
what was given; the schema and defaults.yaml list the same keys; `_delete_` replaces an inherited mapping."""

from pathlib import Path

import pytest
import yaml

from videoabnn.config import ConfigError, config_from_dict, load_config, load_defaults
from videoabnn.config_schema import schema_keys
from videoabnn.study import load_study_config

REPO = Path(__file__).resolve().parents[2]
STANDARD = REPO / "configs" / "synthetic" / "standard.yaml"
STUDY = REPO / "configs" / "synthetic" / "study.yaml"


@pytest.mark.parametrize("override, message", [
    ("train.lr=abc", "command line: train.lr: expected a number, got 'abc'"),
    ("train.epochs=two", "command line: train.epochs: expected an integer, got 'two'"),
    ("data.frames=8.7", "command line: data.frames: expected an integer, got 8.7"),
    ("train.epochs=1.9", "command line: train.epochs: expected an integer, got 1.9"),
    ("train.epochs=0", "command line: train.epochs: expected a number >= 1, got 0"),
    ("train=5", "command line: train: expected a mapping (a section), got 5"),
    ("model.name=tiny_r3dd", "model.name: expected a registered name, got 'tiny_r3dd'; did you mean 'tiny_r3d'?"),
    ("train.attack.eps=abc", "command line: train.attack.eps: expected a number, got 'abc'"),
    ("train.attack.name=pgdd", "train.attack.name: expected a registered name, got 'pgdd'; did you mean 'pgd'?"),
    ("threads=0", "command line: threads: expected one of auto or a number >= 1, got 0"),
    ("data.val_fraction=1.5", "data.val_fraction: expected a number < 1.0, got 1.5"),
    ("eval.threat_models=[black]", "eval.threat_models.0: expected one of white, gray, transfer, naive or physical, got 'black'"),
    ("eval.attacks=[{name: pgd, steps: x}]", "eval.attacks.0.steps: expected an integer, got 'x'"),
    ("device=gpu", "device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    ("trian.lr=1", "unknown key 'trian'; did you mean 'train'?"),
    ("study.patch_study.size=[0.2]", "unknown key 'study.patch_study.size'; did you mean 'study.patch_study.sizes'?"),
])
def test_bad_values_are_one_line_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(STANDARD, [override])
    text = str(err.value)
    assert message in text and "\n" not in text


def test_bad_value_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"_base_": str(STANDARD), "data": {"batch_size": -4}}))
    with pytest.raises(ConfigError, match=rf"^{path}: data.batch_size: expected a number >= 1, got -4$"):
        load_config(path)


def test_study_section_is_checked_with_its_overrides():
    with pytest.raises(ConfigError, match="unknown key 'study.sweeps.eps.valuez'; did you mean 'study.sweeps.eps.values'"):
        load_study_config(STUDY, overrides=["study.sweeps.eps.valuez=[1]"])
    with pytest.raises(ConfigError, match="study.seeds: expected distinct seeds"):
        load_study_config(STUDY, overrides=["study.seeds=[0,0]"])
    with pytest.raises(ConfigError, match="study.methods.pgd_at: train.lr: expected a number, got .fast."):
        load_study_config(STUDY, overrides=["study.methods.pgd_at={train.lr: fast}"])
    with pytest.raises(ConfigError, match="study.init: expected one of pretrained or scratch"):
        load_study_config(STUDY, overrides=["study.init=imagenet"])


def test_schema_and_defaults_list_the_same_keys():
    def keys(data, prefix=""):
        out = set()
        for key, value in data.items():
            out.add(prefix + key)
            if isinstance(value, dict) and value and prefix + key not in ("model.kwargs", "abnn.substitute.kwargs"):
                out |= keys(value, f"{prefix}{key}.")
        return out

    assert keys(load_defaults()) == schema_keys()


def test_delete_marker_replaces_the_inherited_mapping(tmp_path):
    child = tmp_path / "fgsm.yaml"
    child.write_text(yaml.safe_dump({"_base_": str(STANDARD), "train": {"attack": {"_delete_": True, "name": "fgsm",
                                                                                    "eps": 0.01}}}))
    assert load_config(child)["train"]["attack"] == {"name": "fgsm", "eps": 0.01}
    merged = child.with_name("merged.yaml")
    merged.write_text(yaml.safe_dump({"_base_": str(STANDARD), "train": {"attack": {"name": "fgsm"}}}))
    inherited = load_config(merged)["train"]["attack"]
    assert inherited["name"] == "fgsm" and "steps" in inherited  # without the marker: merged key by key
    # the shipped FGSM config no longer inherits PGD's alpha/steps
    assert load_config(REPO / "configs" / "synthetic" / "at.yaml")["train"]["attack"] == {"name": "fgsm",
                                                                                        "eps": 0.01568627450980392}


def test_one_override_mechanism_for_strings_and_mappings():
    base = {"train": {"lr": 0.1, "attack": {"name": "pgd", "steps": 3}}}
    from_strings = config_from_dict(base, ["train.lr=0.2", "train.attack={name: fgsm}"])
    from_mapping = config_from_dict(base, {"train.lr": 0.2, "train.attack": {"name": "fgsm"}})
    assert from_strings == from_mapping and from_strings["train"]["attack"] == {"name": "fgsm"}
