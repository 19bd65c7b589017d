"""``beam_pipeline_args`` reach every step that runs TFDV or TFMA (issue 22)."""

import argparse

import yaml
from helpers import REPO

BUILD = REPO / "build"


def test_beam_args_reach_tfdv_and_tfma_in_the_compiled_pipelines():
    for name in ("sustainable_training_pipeline", "continuous_training_pipeline"):
        spec = yaml.safe_load((BUILD / f"pipelines/{name}.yaml").read_text())
        tasks = spec["root"]["dag"]["tasks"]
        given = {
            task_name
            for task_name, task in tasks.items()
            if task.get("inputs", {}).get("parameters", {}).get("beam_pipeline_args")
            == {"componentInputParameter": "beam_pipeline_args"}
        }
        uses_beam = {n for n in tasks if n.startswith(("generate-statistics", "evaluate-fairness"))}
        assert uses_beam and given == uses_beam, (name, given, uses_beam)
        default = spec["root"]["inputDefinitions"]["parameters"]["beam_pipeline_args"]
        assert default["isOptional"] and default["defaultValue"] == []


def test_greenkfp_run_passes_beam_args_through():
    from greenkfp.pipelines.cli import run

    commands = argparse.ArgumentParser().add_subparsers()
    run.add_parser(commands)
    parser = commands.choices["run"]
    local = "--runner=DirectRunner,--direct_running_mode=multi_processing,--direct_num_workers=2"
    # The value starts with "--", so it follows "=" (as the README writes it).
    args = parser.parse_args(["--data", "d.csv", f"--beam-pipeline-args={local}"])
    assert run._run_arguments(args)["beam_pipeline_args"] == local.split(",")
    assert "beam_pipeline_args" not in run._run_arguments(parser.parse_args(["--data", "d.csv"]))
