"""Progress lines: what steps print and what the local runner picks out of their output."""

import pytest

from greenkfp.components._shared import progress


def test_timed_reports_start_and_end_with_elapsed_and_result(capsys):
    with progress.timed("TFDV statistics of train", "in memory") as done:
        done["result"] = "8,000 rows"
    lines = capsys.readouterr().out.splitlines()
    messages = [progress.message_of(line) for line in lines]
    assert messages[0] == "TFDV statistics of train: started (in memory)"
    assert messages[1].startswith("TFDV statistics of train: done in ")
    assert messages[1].endswith(" s, 8,000 rows")


def test_timed_reports_a_failure_and_lets_it_through(capsys):
    with pytest.raises(ValueError):
        with progress.timed("TFMA fairness evaluation"):
            raise ValueError("boom")
    last = progress.message_of(capsys.readouterr().out.splitlines()[-1])
    assert last.startswith("TFMA fairness evaluation: failed after ")


def test_only_progress_lines_have_a_message():
    assert progress.message_of("    [greenkfp progress] epoch 3/30\n") == "epoch 3/30"
    assert progress.message_of("epoch 3/30 loss 0.5") is None


@pytest.mark.parametrize("seconds, text", [(4.24, "4.2 s"), (185, "3 min 05 s")])
def test_elapsed_text(seconds, text):
    assert progress.elapsed_text(seconds) == text
