"""Hostile but realistic input against the CLI (issue 23): data, config, registry.

Each probe runs ``greenkfp`` through its main function and asserts the exit status, the
message, and that nothing ran (no output folder) and nothing in a registry changed. Every
probe of ``run`` stops at the up-front check, before any step, so the suite is fast. The
interruption probes, which run a real pipeline, are in ``test_interrupts.py``.
"""

from pathlib import Path

import pandas as pd
import pytest

from greenkfp.pipelines.cli import main

MODEL = "credit-risk"  # the registry fixture's model (conftest.py)
EPOCHS_BAD = "epochs must be an integer >= 0, got -1"


def _latin1(tmp_path: Path, frame: pd.DataFrame) -> str:
    data = frame.assign(purpose=frame["purpose"].where(frame.index != 5, "t\u00e9l\u00e9vision"))
    path = tmp_path / "latin1.csv"
    path.write_bytes(data.to_csv(index=False).encode("latin-1"))
    return str(path)


def _bom(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode())
    return str(path)


def _text_in_amounts(tmp_path: Path, frame: pd.DataFrame) -> str:
    amounts = frame["credit_amount"].astype(str)
    amounts[::20] = "unknown"  # 5 % of the rows
    path = tmp_path / "amounts.csv"
    frame.assign(credit_amount=amounts).to_csv(path, index=False)
    return str(path)


def _binary(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "model.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    return str(path)


def _semicolons(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "semicolons.csv"
    frame.to_csv(path, index=False, sep=";")
    return str(path)


def _frame(change):
    def write(tmp_path: Path, frame: pd.DataFrame) -> str:
        path = tmp_path / "data.csv"
        change(frame).to_csv(path, index=False)
        return str(path)

    return write


def _empty(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "empty.csv"
    path.write_text("")
    return str(path)


# (id, data writer, extra options, exit status, fragments of the message)
DATA_PROBES = [
    (
        "latin1-as-utf8",
        _latin1,
        [],
        2,
        ["latin1.csv is not valid utf-8: line 7", "(byte ", "0xe9", "--encoding latin-1"],
    ),
    ("latin1-with-encoding", _latin1, ["--encoding", "latin-1", "--epochs", "-1"], 2, [EPOCHS_BAD]),
    ("utf8-bom", _bom, ["--epochs", "-1"], 2, [EPOCHS_BAD]),
    (
        "text-in-numeric-column",
        _text_in_amounts,
        [],
        2,
        [
            "column 'credit_amount' is numeric in 950 of 1000 rows",
            "['unknown']",
            "--missing-values",
        ],
    ),
    (
        "text-in-numeric-as-missing",
        _text_in_amounts,
        ["--mixed-numeric", "missing", "--epochs", "-1"],
        2,
        [EPOCHS_BAD],
    ),
    (
        "text-in-numeric-as-missing-marker",
        _text_in_amounts,
        ["--missing-values", ",unknown", "--epochs", "-1"],
        2,
        [EPOCHS_BAD],
    ),
    ("binary-file", _binary, [], 2, ["model.csv looks like a binary file, not CSV text"]),
    ("semicolons", _semicolons, [], 2, ["looks ';'-separated (10 fields)", "--delimiter ';'"]),
    (
        "semicolons-with-delimiter",
        _semicolons,
        ["--delimiter", ";", "--epochs", "-1"],
        2,
        [EPOCHS_BAD],
    ),
    ("empty-file", _empty, [], 2, ["import-csv: file is empty"]),
    (
        "no-label-column",
        _frame(lambda f: f.drop(columns=["risk"])),
        [],
        2,
        ["import-csv:", "lacks required column(s) ['risk']"],
    ),
    (
        "one-label-class",
        _frame(lambda f: f.assign(risk=1)),
        [],
        2,
        ["train-model: label column 'risk' must hold exactly 2 distinct values", "found 1"],
    ),
    (
        "three-label-classes",
        _frame(lambda f: f.assign(risk=f["risk"].where(f.index % 7 != 0, 2))),
        [],
        2,
        ["train-model: label column 'risk' must hold exactly 2 distinct values", "found 3"],
    ),
    (
        "positive-label-absent",
        _frame(lambda f: f),
        ["--positive-label", "yes"],
        2,
        ["train-model: positive label 'yes' does not occur in label column 'risk'"],
    ),
    (
        "sensitive-feature-absent",
        _frame(lambda f: f),
        ["--sensitive-features", "gender"],
        2,
        ["evaluate-fairness: sensitive feature 'gender' is not a column"],
    ),
    (
        "bucketed-feature-holds-text",
        _frame(lambda f: f),
        ["--sensitive-features", "sex", "--feature-buckets", "{sex: [1]}"],
        2,
        ["evaluate-fairness: column 'sex' has feature_buckets but holds values"],
    ),
]

CONFIG_PROBES = [
    ("epochs-negative", ["--epochs", "-1"], 2, ["train-model: " + EPOCHS_BAD]),
    (
        "unknown-compression",
        ["--compression", "zip"],
        2,
        ["compress-model: unknown compression method(s) ['zip']"],
    ),
    (
        "compression-out-of-order",
        ["--compression", "int8,prune"],
        2,
        ["compress-model: compression methods ['int8', 'prune'] are out of order"],
    ),
    (
        "unsorted-buckets",
        ["--feature-buckets", "{age: [60, 25]}"],
        2,
        ["evaluate-fairness: feature_buckets['age'] must be strictly increasing"],
    ),
    ("bad-model-name", ["--model-name", "Credit Risk"], 2, ["evaluate-gate: model name"]),
    ("unknown-pipeline", ["--pipeline", "nope"], 2, ["unknown pipeline 'nope'"]),
]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_refused(status, out, err, expected, fragments, out_dir: Path) -> None:
    assert status == expected, out + err
    for fragment in fragments:
        assert fragment in err, err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert "Running" not in out and not out_dir.exists()  # nothing ran


@pytest.mark.parametrize(
    "writer, options, expected, fragments",
    [p[1:] for p in DATA_PROBES],
    ids=[p[0] for p in DATA_PROBES],
)
def test_data_probe(tmp_path, german_credit, capsys, writer, options, expected, fragments):
    data = writer(tmp_path, german_credit)
    out_dir = tmp_path / "run"
    argv = ["run", "--data", data, "--label-column", "risk", "--output-dir", str(out_dir)]
    _assert_refused(*cli(capsys, *argv, *options), expected, fragments, out_dir)


@pytest.mark.parametrize(
    "options, expected, fragments",
    [p[1:] for p in CONFIG_PROBES],
    ids=[p[0] for p in CONFIG_PROBES],
)
def test_config_probe(tmp_path, capsys, options, expected, fragments):
    out_dir = tmp_path / "run"
    _assert_refused(
        *cli(capsys, "run", "--output-dir", str(out_dir), *options), expected, fragments, out_dir
    )


def test_output_dir_that_is_a_file(tmp_path, capsys):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    status, out, err = cli(capsys, "run", "--output-dir", str(existing))
    assert status == 2 and f"{existing} is an existing file, not a folder" in err
    assert "Running" not in out and existing.read_text() == "keep me"
    status, _, err = cli(capsys, "run", "--output-dir", str(existing / "run"))
    assert status == 2 and f"{existing} is an existing file, not a folder" in err


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "{}\n"])
def test_empty_policy_is_refused(tmp_path, capsys, text):
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    out_dir = tmp_path / "run"
    _assert_refused(
        *cli(capsys, "run", "--policy", str(policy), "--output-dir", str(out_dir)),
        2,
        [f"--policy {policy} holds no checks", "leave it out for the pipeline's default policy"],
        out_dir,
    )


SUBMIT_PROBES = [
    ("epochs-negative", ["epochs=-1"], "train-model: " + EPOCHS_BAD),
    ("unknown-compression", ['compression_methods=["zip"]'], "unknown compression method(s)"),
    ("unsorted-buckets", ['feature_buckets={"age": [60, 25]}'], "strictly increasing"),
    ("empty-policy", ["policy="], "parameter policy holds no checks"),
    ("bad-policy", ["policy=min_auc: 1.5"], "min_auc"),
]


@pytest.mark.parametrize(
    "params, fragment", [p[1:] for p in SUBMIT_PROBES], ids=[p[0] for p in SUBMIT_PROBES]
)
def test_submit_probe(capsys, params, fragment):
    assignments = [a for p in ["data_uri=gs://bucket/credit.csv", *params] for a in ("--param", p)]
    status, out, err = cli(capsys, "submit", "--dry-run", *assignments)
    assert status == 2 and out == "" and fragment in err, err
    assert err.startswith("greenkfp submit: ")


def _registry_state(base: Path) -> dict:
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "list"],
        ["registry", "list", "--json"],
        ["registry", "list", "--model", MODEL],
        ["registry", "rollback", "--model", MODEL],
    ],
    ids=["list", "list-json", "list-model", "rollback"],
)
def test_garbage_live_in_every_registry_command(registry, capsys, args):
    (registry / MODEL / "LIVE").write_text("\x00\x17garbage")
    before = _registry_state(registry)
    status, out, err = cli(capsys, *args[:2], "--registry", str(registry), *args[2:])
    assert status == 2, out + err
    assert f"{registry / MODEL / 'LIVE'} holds" in err and "not a version number" in err
    assert _registry_state(registry) == before


def test_run_against_a_registry_with_garbage_live_deploys_nothing(registry, tmp_path, capsys):
    (registry / MODEL / "LIVE").write_text("garbage")
    before = _registry_state(registry)
    out_dir = tmp_path / "run"
    argv = ["run", "--registry", str(registry), "--model-name", MODEL, "--output-dir", str(out_dir)]
    _assert_refused(*cli(capsys, *argv), 2, ["not a version number"], out_dir)
    assert _registry_state(registry) == before
