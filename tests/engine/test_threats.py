"""The threat-model registry and the result-key grammar (videoabnn.threats)."""

import json
from pathlib import Path

import pytest
import torch

from videoabnn import threats as T
from videoabnn.capabilities import Capability
from videoabnn.config_schema import Eval, FidelityPipeline
from videoabnn.engine import EvaluationError
from videoabnn.engine.attack_specs import resolve_threats, threat_params

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "result_keys.json"


def test_the_registry_names_every_threat_model_once_in_report_order():
    assert T.list_threats() == ["white", "gray", "transfer", "naive", "physical"] == list(T.THREAT_NAMES)
    assert T.threat_model("gray").title == "gray-box" and T.title("physical:worst") == "physical:worst"
    assert T.direct_threats() == ("white", "gray")
    assert T.threat_of_view("physical:worst") is T.threat_model("physical") and T.threat_of_view("other") is None
    with pytest.raises(T.ThreatModelError, match=r"unknown threat model 'grey' \(did you mean 'gray'\?\); expected one"):
        T.threat_model("grey")


def test_the_config_schema_allows_exactly_the_registered_names():
    allowed = Eval.model_fields["threat_models"].annotation.__args__[0].__args__
    assert allowed == T.THREAT_NAMES
    assert FidelityPipeline.model_fields["threat"].annotation.__args__ == T.direct_threats()


def test_every_key_of_the_golden_evaluations_parses_and_formats_back():
    data = json.loads(GOLDEN.read_text())
    keys = [k for name, part in data.items() if name != "cache" for k in part["keys"]]
    assert "roa_6@physical:worst" in keys and "fgsm_4" in keys and "pgd_8@naive" in keys
    for key in keys:
        parsed = T.ResultKey.parse(key)
        assert parsed.format() == key == str(parsed)
    assert T.ResultKey.parse("roa_6@physical:worst") == T.ResultKey("roa_6", "physical", "worst")
    assert T.ResultKey.parse("roa_6@physical:worst").view == "physical:worst"
    assert T.ResultKey.parse("fgsm") == T.ResultKey("fgsm", "white")
    assert T.ResultKey.of_view("pgd", "gray").format() == "pgd@gray"
    assert T.threat_model("physical").key("roa", T.WORST).format() == "roa@physical:worst"


def test_naive_is_added_beside_white_for_a_model_with_an_attack_view_without_changing_the_list():
    class Viewed(torch.nn.Module):
        capabilities = frozenset({Capability.ATTACK_VIEW})

    names = ["white", "transfer"]
    assert T.with_added(names, Viewed()) == ["white", "naive", "transfer"]
    assert T.with_added(names, torch.nn.Identity()) == names and names == ["white", "transfer"]
    assert T.with_added(["gray"], Viewed()) == ["gray"]
    assert T.headline(["gray", "white"]) == "white" and T.headline(["gray"]) == "gray" and T.headline([]) == "white"


def test_threat_parameters_and_surrogates():
    spec = {"id": "a", "name": "pgd", "eps": 0.1, "bpda": "identity", "eot": 2, "after": "b"}
    assert threat_params(spec, "white") == {"eps": 0.1, "bpda": "identity", "eot": 2}
    assert threat_params(spec, "naive") == {"eps": 0.1}
    assert threat_params({"id": "r", "name": "roa"}, "physical") == {"pattern": "shared", "physical": "default"}
    assert T.surrogate_needed(["white", "transfer"]) and not T.surrogate_needed(["white", "gray"])
    cfg = {"eval": {"threat_models": ["white"], "transfer_from": None}}
    with pytest.raises(EvaluationError, match="unknown threat model 'grey'"):
        resolve_threats(cfg, ["grey"])
    with pytest.raises(EvaluationError, match="threat model 'transfer' needs eval.transfer_from"):
        resolve_threats(cfg, ["transfer"])


def test_physical_rows_come_from_the_fixed_conditions_in_one_order():
    from videoabnn.attacks.physical_eot import CONDITIONS
    from videoabnn.engine.physical_eval import VIEWS

    assert VIEWS == ("digital", "no_pattern", *CONDITIONS) == T.physical_views(CONDITIONS)
    assert [v for v, _ in T.PHYSICAL_REPORT_VIEWS] == [None, "no_pattern", "worst", "digital"]
