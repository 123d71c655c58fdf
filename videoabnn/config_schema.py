"""The typed schema of a config: every key's type and range, checked when a config is loaded.

``defaults.yaml`` stays the one documented list of keys and their defaults; this module says what
each value may be (pydantic models, closed sections forbid unknown keys). A test checks that both
name the same keys. :func:`check_values` turns pydantic's errors into one line per problem:
``<source>: <dotted.key>: expected <type/range>, got <value>``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model, field_validator

from videoabnn.abnn_modes import MODES, MODULATIONS, SCALAR_STATS
from videoabnn.audit_settings import BUDGET as AUDIT_BUDGET
from videoabnn.audit_settings import AuditSettings
from videoabnn.methods import METHODS
from videoabnn.threats import THREAT_NAMES, WHITE, direct_threats

PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]
AutoBool = StrictBool | Literal["auto"]
Threads = Literal["auto"] | PosInt


class Section(BaseModel):
    """A closed config section: unknown keys are errors; ints stay ints (8.7 is not a frame count)."""

    model_config = ConfigDict(extra="forbid", strict=False)


class OpenSection(BaseModel):
    """A section whose extra keys are passed on as keyword arguments (validated by their receiver)."""

    model_config = ConfigDict(extra="allow")


class SyntheticData(Section):
    variant: Literal["study", "pretrain"]
    layout: Literal["ucf101", "hmdb51"]
    preset: Literal["quick", "default"]
    seed: int
    num_classes: Annotated[int, Field(ge=2)] | None
    groups: PosInt | None
    clips_per_group: PosInt | None
    frames: PosInt | None
    width: PosInt | None
    height: PosInt | None
    generate: StrictBool


class Data(Section):
    name: Literal["synthetic", "ucf101", "hmdb51", "listfile"]
    root: str
    split: Literal[1, 2, 3]
    train_list: str | None
    test_list: str | None
    num_classes: Annotated[int, Field(ge=2)] | None
    frames: PosInt
    stride: PosInt
    short_side: PosInt
    crop: PosInt
    flip: AutoBool
    clips_per_video: PosInt
    three_crop: StrictBool
    short_video: Literal["loop", "repeat_last", "error"]
    backend: Literal["auto", "decord", "pyav"]
    cache_dir: str | None
    index_dir: str | None
    skip_unreadable: StrictBool
    max_unreadable: Annotated[float, Field(ge=0, le=1)]
    batch_size: PosInt
    test_batch_size: PosInt | None
    num_workers: Literal["auto"] | NonNegInt
    max_videos: PosInt | None
    val_fraction: Fraction
    val_seed: int
    synthetic: SyntheticData


class Model(Section):
    name: str
    pretrained: str | None
    kwargs: dict[str, Any]
    input_transform: str | dict[str, Any] | None


class Substitute(Section):
    name: str
    checkpoint: str | None
    kwargs: dict[str, Any]
    shortcut_gradient: Literal["full", "cut"]


class ABNN(Section):
    mode: Literal[MODES]  # type: ignore[valid-type]
    stats_eps: PosFloat
    input_size: Annotated[list[PosInt], Field(min_length=3, max_length=3)] | None
    prototype_statistics: Literal[SCALAR_STATS]  # type: ignore[valid-type]
    stats_dropout: Fraction
    modulation: Literal[MODULATIONS]  # type: ignore[valid-type]
    stats_stages: list[Annotated[int, Field(ge=0, le=4)]] | None
    substitute: Substitute


class AttackSpec(OpenSection):
    """An attack given as a mapping: its name plus builder arguments (numbers where numbers belong)."""

    name: str | None = None
    id: str | None = None
    after: str | None = None
    eps: Annotated[float, Field(ge=0)] | None = None
    alpha: Annotated[float, Field(ge=0)] | None = None
    steps: NonNegInt | None = None
    restarts: PosInt | None = None


class Train(Section):
    method: Literal[METHODS]  # type: ignore[valid-type]
    epochs: PosInt
    optimizer: Literal["sgd", "adam", "adamw"]
    lr: PosFloat
    momentum: Annotated[float, Field(ge=0, le=1)]
    weight_decay: Annotated[float, Field(ge=0)]
    scheduler: Literal["cosine", "step", "constant"]
    warmup_epochs: NonNegInt
    step_milestones: list[PosInt]
    step_gamma: PosFloat
    label_smoothing: Fraction
    amp: AutoBool
    channels_last: AutoBool
    deterministic: StrictBool
    grad_clip: PosFloat | None
    log_interval: PosInt
    eval_every: NonNegInt
    max_batches: PosInt | None
    attack: AttackSpec
    method_args: dict[str, Any]
    denoise_stages: list[NonNegInt]


def _setting_type(name: str) -> Any:
    """The config type of one ``AuditSettings`` field: its type with the range of its metadata (tuples as lists)."""
    spec = next(f for f in dataclasses.fields(AuditSettings) if f.name == name)
    hint = get_type_hints(AuditSettings)[name]
    args = [a for a in get_args(hint) if a is not type(None)]
    inner = args[0] if get_origin(hint) is tuple else (args[0] if args else hint)
    kind = StrictBool if inner is bool else inner
    typed = Annotated[kind, Field(**spec.metadata)] if spec.metadata else kind
    return list[typed] if get_origin(hint) is tuple else typed


def _settings_section(name: str, doc: str, fields: dict[str, Any]) -> type[Section]:
    """A closed section named ``name`` with ``fields`` (``{key: (type, default or ...)}``)."""
    section = create_model(name, __base__=Section, **fields)
    section.__doc__ = doc
    return section


AuditBudget = _settings_section(
    "AuditBudget", "``eval.audit_budget``: what the evaluation's gradient-masking audit may spend (defaults: "
    "``defaults.yaml``; types and ranges: ``AuditSettings``).",
    {"clips": (PosInt | None, ...), **{k: (_setting_type(k), ...) for k in AUDIT_BUDGET}})


class Eval(Section):
    attacks: str | list[str | AttackSpec]
    attack_args: dict[str, dict[str, Any]]
    threat_models: list[Literal[THREAT_NAMES]]  # type: ignore[valid-type]
    transfer_from: str | None
    max_batches: PosInt | None
    audit: StrictBool
    audit_batches: PosInt
    audit_budget: AuditBudget
    audit_min_correct: NonNegInt
    audit_min_clean_over_chance: Annotated[float, Field(ge=0)]
    fit_batches: PosInt | None
    test_time_bn: StrictBool
    input_transform: str | dict[str, Any] | None
    eot: PosInt | None


# --------------------------------------------------------------------------- study section
class PhysicalThreat(Section):
    """The attacks every model is scored on under the physical threat model, and their distribution."""

    attacks: list[str]
    physical: str | dict[str, Any] = "default"
    pattern: Literal["per_frame", "shared"] = "shared"


class Threats(Section):
    gray: StrictBool = True
    transfer: StrictBool = True
    transfer_from: str = "standard"
    transfer_to: list[str] | None = None
    attacks: list[str] | None = None
    physical: PhysicalThreat | None = None


StudyAudit = _settings_section(
    "StudyAudit", "``study.audit``: ``videoabnn.audit_settings.AuditSettings`` fields (null or absent: its default).",
    {f.name: (_setting_type(f.name) | None, None) for f in dataclasses.fields(AuditSettings)})


class Sweep(Section):
    description: str = ""
    attack: AttackSpec
    param: str = "eps"
    values: list[float] = Field(min_length=1)
    scale: PosFloat | None = None
    alpha_ratio: PosFloat | None = None
    x_label: str | None = None
    models: list[str] | None = None
    max_batches: PosInt | None = None
    include_clean: StrictBool = True


class Examples(Section):
    enabled: StrictBool = True
    model: str = "standard"
    attacks: list[str] = []
    clip: NonNegInt = 0
    mp4: StrictBool = False


class Readme(Section):
    path: str                   # the README: its STUDY-HEADLINE block (with `results`), else its STUDY-RESULTS block
    images: str                 # where the plot shown on the results page is copied
    results: str | None = None  # the results page (docs/results.md): its STUDY-RESULTS block gets the full section


class ReportSettings(Section):
    tolerance: Annotated[float, Field(ge=0, le=1)] = 0.02
    clean_target: Annotated[float, Field(ge=0, le=1)] | None = 0.9
    schedule_choice: str | None = None  # how the shared training schedule was chosen (printed in the protocol)


class PatchStudy(Section):
    title: str | None = None
    checkpoints: dict[str, str] = {}
    # or: the checkpoints a robustness study selected (its work_dir), for `models` (null: all) of one seed
    from_study: str | None = None
    models: list[str] | None = None
    study_seed: NonNegInt = 0
    kind: Literal["universal_patch", "universal_framing"] = "universal_patch"
    sizes: list[Annotated[float, Field(gt=0, le=1)]] = Field(min_length=1)
    fit: dict[str, Any] = {}
    eot: dict[str, Any] = {}
    physical: str | dict[str, Any] | None = None  # physical threat model rows (a physical_eot distribution)
    fit_batches: PosInt | None = None
    test_batches: PosInt | None = None
    position_size: Annotated[float, Field(gt=0, le=1)] | None = None
    position_steps: NonNegInt = 0
    frame_counts: list[PosInt] = []
    examples: NonNegInt = 2
    mp4: StrictBool = True


class InputTransforms(Section):
    """``study.input_transforms``: one trained model behind each transform, naive and adaptive."""

    model: str = "standard"
    transforms: list[str | dict[str, Any]] = []
    attacks: list[str] | None = None
    audit: StrictBool = False
    max_batches: PosInt | None = None


DottedOverrides = dict[str, Any]


class FidelityPipeline(Section):
    """One evaluation pipeline of ``study.fidelity``: gradient, threat model, attacks and test batch."""

    about: str = ""
    gradient: Literal["full", "cut"] = "full"
    threat: Literal[direct_threats()] = WHITE  # type: ignore[valid-type]
    attacks: list[str | AttackSpec] = Field(min_length=1)  # ids of eval.attacks, or attack mappings
    batch: Literal["video", "study"] | PosInt = "video"
    models: list[str] | None = None  # null: every model of study.fidelity


class Fidelity(Section):
    """``study.fidelity``: the study model ``base`` and models derived from it, under several pipelines."""

    base: str = "abnn"
    models: dict[str, DottedOverrides | None] = {}
    clips_per_video: PosInt | None = None
    pipelines: dict[str, FidelityPipeline] = Field(min_length=1)
    publish: str | None = None  # a results page whose FIDELITY-RESULTS block gets this section (docs/results.md)


class CleanGap(Section):
    """``study.clean_gap``: the study model ``base`` retrained with each variant's overrides, side by side."""

    base: str = "abnn"
    reference: str | None = "standard"
    variants: dict[str, DottedOverrides | None] = Field(min_length=1)
    attacks: list[str | AttackSpec] = Field(min_length=1)
    gray_attacks: list[str | AttackSpec] = []
    headline: str = "pgd_linf_4_20"
    budget: str = "linf 4/255"
    publish: str | None = None  # a results page whose CLEAN-GAP-RESULTS block gets this section (docs/results.md)


class Study(Section):
    title: str | None = None
    seeds: list[NonNegInt] = Field(default=[0], min_length=1)
    init: Literal["pretrained", "scratch"] = "pretrained"
    checkpoint: Literal["best", "last"] = "best"
    frame_cache: StrictBool = True
    profile: str | None = None
    pretrain: DottedOverrides | None = None
    methods: dict[str, DottedOverrides | None] = {}
    threats: Threats = Threats()
    audit: StudyAudit = StudyAudit()
    sweeps: dict[str, Sweep] = {}
    examples: Examples | None = None
    readme: Readme | None = None
    report: ReportSettings = ReportSettings()
    profiles: dict[str, DottedOverrides] = {}
    patch_study: PatchStudy | None = None
    input_transforms: InputTransforms | None = None
    fidelity: Fidelity | None = None
    clean_gap: CleanGap | None = None

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"distinct seeds (each is a separate run), got {seeds}")
        return seeds


class RunConfig(Section):
    """A whole run config (after merging the defaults)."""

    name: str
    work_dir: str | None
    seed: NonNegInt
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")]
    threads: Threads
    data: Data
    model: Model
    abnn: ABNN
    train: Train
    eval: Eval
    study: Study | None = None


# --------------------------------------------------------------------------- errors
def _expected(error: Mapping) -> str:
    """What pydantic wanted, in the words of a config key's documentation."""
    kind, ctx = error["type"], error.get("ctx") or {}
    bounds = {"greater_than": "> {gt}", "greater_than_equal": ">= {ge}", "less_than": "< {lt}",
              "less_than_equal": "<= {le}"}
    if kind in bounds:
        return "a number " + bounds[kind].format(**ctx)
    if kind == "literal_error":
        return "one of " + str(ctx.get("expected", "")).replace("'", "")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "an integer"
    if kind in ("float_parsing", "float_type"):
        return "a number"
    if kind in ("bool_type", "bool_parsing"):
        return "true or false"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "a mapping"
    if kind == "list_type":
        return "a list"
    if kind in ("string_type",):
        return "a string"
    if kind == "string_pattern_mismatch":
        return "auto, cpu, cuda or cuda:N"
    if kind == "too_short":
        return "a non-empty list" if isinstance(error.get("input"), list) else "a non-empty mapping"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    return error["msg"]


def _dotted(loc: tuple) -> str:
    # a union's branch names (e.g. "int", "literal['auto']", "list[...]") are not config keys
    parts = [str(p) for p in loc if not _is_branch_name(p)]
    return ".".join(parts)


def _is_branch_name(part: Any) -> bool:
    if isinstance(part, int):
        return False
    text = str(part)
    return "[" in text or text in ("int", "float", "str", "bool", "constrained-int", "constrained-float",
                                   "AttackSpec", "function-after[_distinct(), list[constrained-int]]")


def _unknown_key(error: Mapping, schema: type[BaseModel]) -> str:
    """``unknown key 'a.b'; did you mean 'a.c'?`` for an extra key in a closed section."""
    loc = tuple(error["loc"])
    model = schema
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        nested = next((a for a in candidates if issubclass(a, BaseModel)), None)
        if nested is None:
            break
        model = nested
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
    prefix = ".".join(str(p) for p in loc[:-1])
    hint = f"; did you mean '{prefix + '.' if prefix else ''}{close[0]}'?" if close else ""
    return f"unknown key '{_dotted(loc)}'{hint} (valid keys here: {', '.join(sorted(valid))})"


def describe(err: ValidationError, schema: type[BaseModel]) -> list[str]:
    """One ``<dotted.key>: expected ..., got ...`` line per problem, unknown keys first.

    The branches of a union (``auto`` or an integer) are merged into one "expected A or B"; where one
    branch went deeper (an attack mapping inside a list), its error is the one that explains the value.
    """
    unknown, by_key = [], {}
    for error in err.errors():
        if error["type"] == "extra_forbidden":
            unknown.append(_unknown_key(error, schema))
        else:
            by_key.setdefault(_dotted(tuple(error["loc"])), []).append(error)
    lines = list(dict.fromkeys(unknown))
    for key, errors in by_key.items():
        if any(k != key and k.startswith(key + ".") for k in by_key):
            continue  # a deeper error of the same value explains it better
        if any(e["type"] == "missing" for e in errors):
            lines.append(f"{key}: missing (a required key of this section)")
            continue
        expected = " or ".join(dict.fromkeys(_expected(e) for e in errors))
        lines.append(f"{key}: expected {expected}, got {errors[0].get('input')!r}")
    return lines


def check_names(cfg: Mapping, source: str) -> list[str]:
    """Model and attack names that no registry knows (with the closest known name)."""
    from videoabnn.attacks import list_attacks
    from videoabnn.models import list_models

    problems = []
    models, attacks = list_models(), list_attacks()
    named = [("model.name", cfg["model"]["name"], models),
             ("abnn.substitute.name", cfg["abnn"]["substitute"]["name"], models)]
    if cfg["train"]["attack"].get("name") is not None:
        named.append(("train.attack.name", cfg["train"]["attack"]["name"], attacks))
    for key, name, known in named:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
            problems.append(f"{source}: {key}: expected a registered name, got {name!r}{hint}")
    return problems


def check_values(cfg: Mapping, source: str) -> list[str]:
    """Problems of a merged config as ``<source>: <dotted.key>: ...`` lines (empty when valid)."""
    try:
        RunConfig.model_validate(dict(cfg))
    except ValidationError as err:
        return [f"{source}: {line}" for line in describe(err, RunConfig)]
    from videoabnn.model_args import check_model_args

    return check_names(cfg, source) or check_model_args(cfg, source)


def schema_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> set[str]:
    """Dotted names of every key of the closed sections (to compare with ``defaults.yaml``)."""
    keys = set()
    for name, field in model.model_fields.items():
        if name == "study":
            continue
        keys.add(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            keys |= schema_keys(annotation, f"{prefix}{name}.")
    return keys


def study_default(key: str) -> Any:
    """The schema's default of ``study.<key>`` (the one place a study default is written)."""
    return Study.model_fields[key].get_default(call_default_factory=True)
