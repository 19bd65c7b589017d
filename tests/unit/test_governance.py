"""Governance: the hash-chained audit log, retirement, and the Hugging Face style card."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment import audit, hf_card
from greenkfp.components.deployment.registry import (
    COMPLETE_MARKER,
    Registry,
    RegistryError,
    version_layout,
)
from greenkfp.components.deployment.retirement import parse_floor, plan_retirement
from greenkfp.pipelines.cli import main

MODEL = "credit-risk"


@pytest.fixture
def model_dir(tmp_path) -> Path:
    root = tmp_path / "candidate"
    (root / "saved_model" / "variables").mkdir(parents=True)
    (root / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (root / "saved_model" / "variables" / "variables.index").write_bytes(b"index")
    return root


def push(reg: Registry, model_dir: Path, auc: float = 0.8, **kwargs):
    metrics = json.dumps({"candidate": {"auc": auc}}).encode()
    return reg.push(
        MODEL, version_layout(str(model_dir)), lambda v, uri: {"metrics.json": metrics}, **kwargs
    )


@pytest.fixture
def registry(tmp_path, model_dir, monkeypatch) -> Registry:
    """Versions 1-3 (auc 0.6, 0.8, 0.9), LIVE 3, pushed by 'ci-bot'."""
    monkeypatch.setenv(audit.ACTOR_ENV, "ci-bot")
    reg = Registry(str(tmp_path / "registry"))
    for auc in (0.6, 0.8, 0.9):
        push(reg, model_dir, auc, reason=f"auc {auc}")
    return reg


def cli(*args: str) -> int:
    return main(["registry", *args])


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- audit log


def test_every_action_is_chained_in_the_audit_log(registry, monkeypatch, capsys):
    monkeypatch.setenv(audit.ACTOR_ENV, "alice")
    registry.rollback(MODEL, reason="latency regression")
    registry.retire(MODEL, 3, reason="superseded")
    check = audit.verify(registry.model_uri(MODEL))
    assert check.ok
    entries = check.entries
    assert [(e["action"], e["version"]) for e in entries] == [
        ("push", 1),
        ("push", 2),
        ("push", 3),
        ("rollback", 2),
        ("retire", 3),
    ]
    assert [e["actor"] for e in entries] == ["ci-bot"] * 3 + ["alice"] * 2
    assert entries[3]["reason"] == "latency regression"
    assert (entries[3]["live_before"], entries[3]["live_after"]) == (3, 2)
    assert entries[0]["prev_sha256"] == audit.GENESIS
    for before, after in zip(entries, entries[1:]):
        assert after["prev_sha256"] == before["sha256"]
    # the version's content hash is the hash over its files' hashes, from _COMPLETE
    assert entries[0]["version_sha256"] == audit.version_sha256(registry.version_uri(MODEL, 1))
    assert cli("audit", "--registry", registry.base_uri, "--model", MODEL) == 0
    out = capsys.readouterr().out
    assert "#5" in out and "retire version 3 by alice" in out and "5 entries" in out


@pytest.mark.parametrize("tamper", ["edit", "edit_and_rehash", "delete"])
def test_a_tampered_entry_is_found_and_named(registry, capsys, tamper):
    path = Path(audit.audit_uri(registry.model_uri(MODEL)))
    lines = path.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["actor"] = "mallory"
    if tamper == "edit":
        lines[1] = json.dumps(entry, sort_keys=True)
    elif tamper == "edit_and_rehash":
        entry["sha256"] = audit.entry_sha256(entry)
        lines[1] = json.dumps(entry, sort_keys=True)
    else:
        del lines[1]
    path.write_text("\n".join(lines) + "\n")
    expected = {"edit": 2, "edit_and_rehash": 3, "delete": 2}[tamper]
    check = audit.verify(registry.model_uri(MODEL))
    assert check.broken_at == expected and len(check.entries) == expected - 1
    assert cli("audit", "--registry", registry.base_uri, "--model", MODEL) == 1
    assert f"broken at entry {expected}:" in capsys.readouterr().err


def test_actor_falls_back_to_the_service_account_then_the_user(tmp_path, monkeypatch):
    import base64

    monkeypatch.delenv(audit.ACTOR_ENV, raising=False)
    monkeypatch.setenv("USER", "bob")
    monkeypatch.setenv("LOGNAME", "bob")
    monkeypatch.setattr(audit, "SERVICE_ACCOUNT_TOKEN", str(tmp_path / "absent"))
    assert audit.current_actor() == "bob"
    claims = {"sub": "system:serviceaccount:kubeflow:pipeline-runner"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    token = tmp_path / "token"
    token.write_text(f"header.{payload}.signature")
    monkeypatch.setattr(audit, "SERVICE_ACCOUNT_TOKEN", str(token))
    assert audit.current_actor() == "system:serviceaccount:kubeflow:pipeline-runner"
    monkeypatch.setenv(audit.ACTOR_ENV, "alice")
    assert audit.current_actor() == "alice"


# ----------------------------------------------------------------------------- retirement


def test_retiring_live_is_refused(registry, capsys):
    with pytest.raises(RegistryError, match="version 3 .* is LIVE and cannot be retired"):
        registry.retire(MODEL, 3)
    with pytest.raises(RegistryError, match="is LIVE"):
        plan_retirement(registry, MODEL, version=3)
    args = ["retire", "--registry", registry.base_uri, "--model", MODEL, "--version", "3"]
    assert cli(*args, "--apply") == 2
    assert "is LIVE and cannot be retired" in capsys.readouterr().err
    assert [v.version for v in registry.versions(MODEL)] == [1, 2, 3]
    # a policy skips LIVE and says so
    plan = plan_retirement(registry, MODEL, below=("auc", 0.95))
    assert [v for v, _ in plan.retire] == [1, 2]
    assert plan.skipped == [(3, "LIVE (would match: auc 0.9 < 0.95)")]


def test_retire_dry_run_changes_nothing(registry, capsys):
    root = Path(registry.base_uri)
    before = snapshot(root)
    args = ["retire", "--registry", registry.base_uri, "--model", MODEL, "--keep-last", "1"]
    assert cli(*args) == 0
    out = capsys.readouterr().out
    assert "would retire version 1" in out and "would retire version 2" in out
    assert "dry run, nothing changed" in out
    assert snapshot(root) == before


def test_retire_applies_by_policy_and_hides_the_version(registry, model_dir, capsys):
    args = ["retire", "--registry", registry.base_uri, "--model", MODEL, "--below", "auc=0.7"]
    assert cli(*args, "--apply", "--reason", "below the floor") == 0
    assert "retired version 1 (auc 0.6 < 0.7)" in capsys.readouterr().out
    assert [v.version for v in registry.versions(MODEL)] == [2, 3]
    assert registry.retired(MODEL) == [1]
    assert cli("list", "--registry", registry.base_uri, "--model", MODEL) == 0
    assert "retired (never served): 1" in capsys.readouterr().out
    assert (Path(registry.base_uri) / MODEL / ".retired" / "1" / COMPLETE_MARKER).exists()
    with pytest.raises(RegistryError, match="no complete version 1 \\(it is retired\\)"):
        registry.rollback(MODEL, to=1)
    registry.retire(MODEL, 2)
    with pytest.raises(RegistryError, match="oldest complete version"):
        registry.rollback(MODEL)  # nothing left to roll back to
    # retired numbers are never reused
    assert push(registry, model_dir).version == 4
    last = audit.verify(registry.model_uri(MODEL)).entries[-2]
    assert (last["action"], last["version"], last["reason"]) == ("retire", 2, "")
    assert audit.verify(registry.model_uri(MODEL)).entries[3]["reason"] == "below the floor"


def test_policies_by_age_and_bad_arguments(registry):
    import datetime

    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)
    plan = plan_retirement(registry, MODEL, older_than_days=5, now=later)
    assert [v for v, _ in plan.retire] == [1, 2] and plan.skipped[0][0] == 3
    assert plan_retirement(registry, MODEL, older_than_days=5).retire == []
    with pytest.raises(InputError, match="exactly one"):
        plan_retirement(registry, MODEL)
    with pytest.raises(InputError, match="at least 1"):
        plan_retirement(registry, MODEL, keep_last=0)
    with pytest.raises(InputError, match="METRIC=VALUE"):
        parse_floor("auc")


RACE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from greenkfp.components.deployment.registry import Registry, version_layout
    base, model_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reg = Registry(base)
    for _ in range(count):
        reg.push("credit-risk", version_layout(model_dir),
                 lambda v, uri: {"metrics.json": b'{"candidate": {"auc": 0.5}}'})
    """
)


def test_retire_under_concurrent_deploys_leaves_the_registry_consistent(registry, model_dir):
    base = Path(registry.base_uri)
    pushes = 12
    pusher = subprocess.Popen(
        [sys.executable, "-c", RACE_SCRIPT, str(base), str(model_dir), str(pushes)],
        stderr=subprocess.PIPE,
        text=True,
    )
    retired = 0
    while pusher.poll() is None:
        # retire every version but LIVE, newest first: the newest may be published and
        # about to become LIVE; a version retired first must then never become LIVE
        for info in reversed(registry.versions(MODEL)):
            try:
                registry.retire(MODEL, info.version, reason="race")
                retired += 1
            except RegistryError as err:  # LIVE, or gone meanwhile
                assert "is LIVE" in str(err) or "no complete version" in str(err)
    assert pusher.wait(timeout=120) == 0, pusher.stderr.read()
    assert retired > 0
    numbered = sorted(int(p.name) for p in (base / MODEL).iterdir() if p.name.isdigit())
    assert set(numbered).isdisjoint(registry.retired(MODEL))
    assert sorted(numbered + registry.retired(MODEL)) == list(range(1, 3 + pushes + 1))
    for version in numbered:
        assert (base / MODEL / str(version) / COMPLETE_MARKER).exists()
    live = registry.live_version(MODEL)  # raises when LIVE names a retired version
    assert live in numbered
    check = audit.verify(registry.model_uri(MODEL))
    assert check.ok
    actions = [e["action"] for e in check.entries]
    assert actions.count("retire") == retired == len(registry.retired(MODEL))
    assert actions.count("push") == 3 + pushes


# ----------------------------------------------------------------------------- HF card


def test_hf_card_front_matter_parses_and_holds_co2_and_portable_lineage(tmp_path, german_credit):
    from tests.unit.test_registry_deploy import deploy

    candidate = tmp_path / "candidate"
    (candidate / "saved_model").mkdir(parents=True)
    (candidate / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (candidate / "model_metadata.json").write_text(json.dumps({"label_column": "risk"}))
    from tests.unit.test_registry_deploy import BLESSING

    blessing = tmp_path / "blessing.json"
    blessing.write_text(json.dumps(BLESSING))
    eval_data = tmp_path / "eval.csv"
    german_credit.head(20).to_csv(eval_data, index=False)
    outcome = deploy((candidate, blessing, eval_data), tmp_path / "registry")
    text = (Path(outcome.pushed_uri) / "README.md").read_text()
    assert text.startswith("---\n")
    matter = yaml.safe_load(text.split("---\n")[1])
    co2 = matter["co2_eq_emissions"]
    assert co2["emissions"] == pytest.approx(0.7)  # 0.0007 kg in grams
    assert set(co2) == {
        "emissions",
        "source",
        "training_type",
        "geographical_location",
        "hardware_used",
    }
    assert matter["metrics"] == ["auc"]
    assert matter["model-index"][0]["results"][0]["metrics"] == [{"type": "auc", "value": 0.81}]
    assert str(tmp_path) not in text  # no run-local paths
    for heading in ["## EU AI Act technical documentation", "## Human oversight", "## Lineage"]:
        assert heading in text
    assert "Annex IV 1(a)" in text and "gate policy" in text
    assert hf_card.portable_uri("gs://b/x") == "gs://b/x" and hf_card.portable_uri("/tmp/x") == ""


# ----------------------------------------------------------------------------- MCT card


def _deploy_with_training_record(tmp_path, german_credit):
    from greenkfp.components.deployment.deploy_task import TrainingRecord
    from tests.unit.test_registry_deploy import BLESSING, deploy

    candidate = tmp_path / "candidate"
    (candidate / "saved_model").mkdir(parents=True)
    (candidate / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    meta = {"label_column": "risk", "n_train": 40, "feature_spec": {"numeric": ["age"]}}
    (candidate / "model_metadata.json").write_text(json.dumps(meta))
    blessing = tmp_path / "blessing.json"
    blessing.write_text(json.dumps(BLESSING))
    eval_data, train_data = tmp_path / "eval.csv", tmp_path / "train.csv"
    german_credit.head(20).to_csv(eval_data, index=False)
    german_credit.iloc[20:60].to_csv(train_data, index=False)
    training = TrainingRecord(
        train_dataset_path=str(train_data),
        training_energy={
            "cpu_model": "AMD EPYC 7B13",
            "country_iso_code": "DEU",
            "region": "",
            "energy_method": "cpu_load_estimate",
        },
    )
    outcome = deploy((candidate, blessing, eval_data), tmp_path / "registry", training=training)
    return Path(outcome.pushed_uri), train_data


def test_mct_card_validates_against_the_published_schema_with_energy_and_lineage(
    tmp_path, german_credit
):
    import hashlib

    import jsonschema

    from greenkfp.components.deployment import mct_card

    version, train_data = _deploy_with_training_record(tmp_path, german_credit)
    card = json.loads((version / "model_card.json").read_text())
    schema = json.loads(Path(mct_card.SCHEMA_PATH).read_text())
    assert schema["properties"]["schema_version"] and "performance_metric" in schema["definitions"]
    jsonschema.Draft7Validator(schema).validate(card)  # independently of mct_card.validate
    assert card["schema_version"] == "0.0.2"
    assert card["model_details"]["version"]["name"] == "1"
    metrics = {
        (m["type"], m.get("slice", "")): m["value"]
        for m in card["quantitative_analysis"]["performance_metrics"]
    }
    assert metrics[("auc", "")] == "0.81"
    assert metrics[("training energy (kWh)", "")] == "0.002"
    assert metrics[("training emissions (kg CO2eq)", "")] == "0.0007"
    assert (
        metrics[("false_positive_rate gap (max - min over slices)", "sex (threshold 0.5)")]
        == "0.08"
    )
    energy_note = card["considerations"]["ethical_considerations"][0]["name"]
    assert "0.002 kWh" in energy_note and "AMD EPYC 7B13" in energy_note and "DEU" in energy_note
    train_sha = hashlib.sha256(train_data.read_bytes()).hexdigest()
    data = {d["name"]: d for d in card["model_parameters"]["data"]}
    assert train_sha in data["training data"]["description"]
    assert data["eval data"]["sensitive"] == {"sensitive_data": ["sex"]}
    docs = card["model_details"]["documentation"]
    assert "gate policy: (in this card) sha256:" in docs
    assert "min_auc: fairness.auc = 0.81 >= 0.7: pass" in docs
    # no card carries a path that only existed inside this run
    for name in ("model_card.json", "model_card.md", "README.md"):
        assert str(tmp_path) not in (version / name).read_text(), name
    # the run recorded hardware and location: the HF card says so, not "not recorded"
    matter = yaml.safe_load((version / "README.md").read_text().split("---\n")[1])
    assert matter["co2_eq_emissions"]["hardware_used"] == "CPU: AMD EPYC 7B13"
    assert matter["co2_eq_emissions"]["geographical_location"] == "DEU"
    markdown = (version / "model_card.md").read_text()
    for heading in ["## Human oversight", "## EU AI Act technical documentation", "## Lineage"]:
        assert heading in markdown
    assert f"| training data SHA-256 | {train_sha} |" in markdown
    assert "| training data | (run-local) | " + train_sha in markdown
    assert "| Intended purpose | Annex IV 1(a) | Intended use |" in markdown
    assert "| hardware | CPU: AMD EPYC 7B13 |" in markdown


@pytest.mark.parametrize(
    "breaks, where, why",
    [
        (lambda c: c.update(energy_kwh=0.1), "(the card)", "Additional properties"),
        (
            lambda c: c["quantitative_analysis"]["performance_metrics"][0].update(value=0.81),
            "quantitative_analysis/performance_metrics/0/value",
            "is not of type 'string'",
        ),
        (
            lambda c: c["model_details"]["version"].update(date="5 December"),
            "model_details/version/date",
            "is not a 'date'",
        ),
    ],
)
def test_a_broken_mct_card_is_refused_naming_where(breaks, where, why):
    from greenkfp.components.deployment import mct_card
    from greenkfp.components.deployment.model_card import CardFacts
    from tests.unit.test_registry_deploy import BLESSING_RECORD

    facts = CardFacts(
        model_name=MODEL,
        version=3,
        version_uri="gs://bucket/registry/credit-risk/3",
        pushed_at="2026-12-05T23:00:00+00:00",
        blessing=BLESSING_RECORD,
    )
    card = mct_card.build(facts)
    mct_card.validate(card)
    assert card["model_details"]["references"] == [{"reference": facts.version_uri}]
    breaks(card)
    with pytest.raises(InputError, match="does not validate against the Model Card Toolkit") as err:
        mct_card.validate(card)
    assert f"at {where}:" in str(err.value) and why in str(err.value)
