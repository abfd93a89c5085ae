import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from history.models import Run
from tests.factories import JobFactory, RunFactory, TeamFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def job_with_runs(team, natural_id: str, count: int, keep_runs: int):
    job = JobFactory(team=team, natural_id=natural_id, keep_runs=keep_runs)
    for _ in range(count):
        RunFactory(job=job)
    return job


def test_it_prunes_every_job_and_shows_progress(team, capsys):
    job_with_runs(team, "a", 5, keep_runs=2)
    job_with_runs(team, "b", 3, keep_runs=1)

    call_command("prune")

    out, err = capsys.readouterr()
    assert out.strip() == "Deleted 5 runs."
    assert "[##############################] 2/2 jobs, 5 runs" in err
    assert Run.objects.count() == 3


def test_it_prunes_one_job_of_one_team(team, capsys):
    job = job_with_runs(team, "a", 5, keep_runs=2)
    other = job_with_runs(TeamFactory(slug="globex"), "a", 5, keep_runs=2)

    call_command("prune", "--job", "a", "--team", "acme")

    assert Run.objects.filter(job=job).count() == 2
    assert Run.objects.filter(job=other).count() == 5


def test_a_dry_run_deletes_nothing(team, capsys):
    job_with_runs(team, "a", 5, keep_runs=2)
    call_command("prune", "--dry-run")
    assert capsys.readouterr().out.strip() == "Would delete 3 runs."
    assert Run.objects.count() == 5


def test_it_refuses_an_unknown_team_or_job(team):
    with pytest.raises(CommandError, match="no team 'nope'"):
        call_command("prune", "--team", "nope")
    with pytest.raises(CommandError, match="no job 'nope' in team 'acme'"):
        call_command("prune", "--job", "nope", "--team", "acme")


def test_a_bad_argument_exits_non_zero_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "prune", "--batch-size", "many"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOURGLASS_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--batch-size" in result.stderr
