"""greenkfp registry list / rollback."""

import json

import pytest
from helpers import run_cli

from greenkfp.components.deployment.registry import Registry
from greenkfp.pipelines.cli import main

MODEL = "credit-risk"


def cli(capsys, *args):
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_models_and_versions(registry, capsys):
    status, out, _ = cli(capsys, "registry", "list", "--registry", str(registry))
    assert status == 0
    assert out.splitlines()[1].split() == [MODEL, "3", "3"]

    status, out, _ = cli(capsys, "registry", "list", "--registry", str(registry), "--model", MODEL)
    assert status == 0
    lines = out.splitlines()
    assert lines[1].split()[:1] == ["1"] and lines[3].startswith("* ")
    assert "0.7800" in lines[3] and "0.7300" in lines[3]
    assert "LIVE: 3" in out
    assert "1 leftover(s) of failed or interrupted pushes" in out and "4-0123456789ab" in out

    status, out, _ = cli(
        capsys, "registry", "list", "--registry", str(registry), "--model", MODEL, "--json"
    )
    listing = json.loads(out)
    assert listing["live"] == 3 and [v["version"] for v in listing["versions"]] == [1, 2, 3]
    assert listing["versions"][0]["auc"] == 0.71 and listing["abandoned"] == ["4-0123456789ab"]


def test_rollback_moves_live_and_keeps_versions(registry, capsys):
    status, out, _ = cli(
        capsys, "registry", "rollback", "--registry", str(registry), "--model", MODEL
    )
    assert (status, out.strip()) == (0, f"{MODEL}: LIVE 3 -> 2")
    status, out, _ = cli(
        capsys, "registry", "rollback", "--registry", str(registry), "--model", MODEL, "--to", "1"
    )
    assert (status, out.strip()) == (0, f"{MODEL}: LIVE 2 -> 1")
    assert (registry / MODEL / "LIVE").read_text() == "1\n"
    status, _, err = cli(
        capsys, "registry", "rollback", "--registry", str(registry), "--model", MODEL
    )
    assert status == 2 and "version 1 is the oldest complete version" in err
    assert [v.version for v in Registry(str(registry)).versions(MODEL)] == [1, 2, 3]


@pytest.mark.parametrize(
    "args, message",
    [
        (["list", "--model", "other"], "model 'other' has no complete version"),
        (["rollback", "--model", MODEL, "--to", "4"], "has no complete version 4"),
        (["rollback", "--model", MODEL, "--to", "0"], "has no complete version 0"),
        (["rollback", "--model", "Bad_Name"], "model name 'Bad_Name' is not valid"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(registry, capsys, args, message):
    live = (registry / MODEL / "LIVE").read_text()
    status, _, err = cli(capsys, "registry", args[0], "--registry", str(registry), *args[1:])
    assert status == 2 and message in err
    assert (registry / MODEL / "LIVE").read_text() == live


def test_command_line_entry_point(tmp_path, registry, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse: a required option is missing
        main(["registry", "rollback", "--registry", str(registry)])
    assert exit_info.value.code == 2 and "--model" in capsys.readouterr().err
    missing = run_cli("registry", "list", "--registry", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    listed = run_cli("registry", "list", "--registry", str(registry), "--model", MODEL)
    assert listed.returncode == 0, listed.stderr
    assert "LIVE: 3" in listed.stdout
