"""What the scripts share: argument types, one-line errors, exit statuses and progress lines."""

import argparse

import pytest

from complexstep.commands import cli
from complexstep.errors import SettingError


def test_parser_errors_become_usage_errors():
    """A bad flag raises a UsageError carrying argparse's one-line message."""
    parser = cli.ArgumentParser()
    parser.add_argument("--epochs", type=cli.at_least(1), default=50)
    with pytest.raises(cli.UsageError, match="argument --epochs: must be at least 1, got 0"):
        parser.parse_args(["--epochs", "0"])
    with pytest.raises(cli.UsageError, match="expected a whole number, got '2.5'"):
        parser.parse_args(["--epochs", "2.5"])


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "ten"])
def test_positive_number_refuses_what_is_not_positive_and_finite(text):
    """Zero, negatives, NaN, infinity and words are refused."""
    with pytest.raises(argparse.ArgumentTypeError):
        cli.positive_number(text)


def test_positive_number_reads_scientific_notation():
    """A learning rate written as 5e-4 is read as 0.0005."""
    assert cli.positive_number("5e-4") == 0.0005


def refuse() -> int:
    raise cli.UsageError("no model at m.keras")


def refuse_in_the_library() -> int:
    raise SettingError("h must be a positive number, not 0")


@pytest.mark.parametrize(
    "main, status, stderr",
    [
        (lambda: 0, 0, ""),
        (lambda: 1, 1, ""),
        (refuse, 1, "error: no model at m.keras\n"),
        (refuse_in_the_library, 1, "error: h must be a positive number, not 0\n"),
    ],
)
def test_run_exits_with_the_status_and_prints_errors_on_one_line(main, status, stderr, capsys):
    """run() exits with main's status, or 1 after one 'error:' line for any library error."""
    with pytest.raises(SystemExit) as exit_info:
        cli.run(main)
    assert exit_info.value.code == status
    assert capsys.readouterr().err == stderr


def test_progress_in_a_log_prints_each_tenth_and_the_end(capsys):
    """Outside a terminal the bar prints a line per tenth of the work, ending at the total."""
    bar = cli.ProgressBar(20, "attribution", units="passes")
    bar.detail = "image 1/2"
    for _ in range(20):
        bar.advance()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11
    assert lines[-1].startswith("attribution [" + "=" * 30 + "] 20/20 passes, image 1/2, ")
    assert lines[-1].endswith("s elapsed, 0s left")


def test_progress_draws_its_bar_from_the_first_report(capsys):
    """A command's ProgressBarCallback opens its bar with the first report's total and shows the
    detail."""
    progress = cli.ProgressBarCallback("heatmaps", units="maps")
    for done in (1, 2, 3):
        progress(done, 3, f"map {done}")
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith("heatmaps [" + "=" * 30 + "] 3/3 maps, map 3, ")
    )
