"""Job chains in the dashboard: the form's `after` rows (a job picker and the outcome) save through the job service,
a loop or an unknown job is shown on the editor, the preview says the job is triggered by other jobs, and the run
page links a started run to the runs that started it and back."""

from __future__ import annotations

from django.urls import reverse

from history.models import Run, RunLink
from jobs.models import Job
from tests.factories import JobFactory, RunFactory
from tests.jobs.dashboard.forms_support import job_form

CREATE = reverse("jobs:create")
PREVIEW = reverse("jobs:schedule-preview")


def _chain_form(natural_id: str, rows: list[tuple[str, str]], **fields: object) -> dict:
    data = job_form(natural_id=natural_id, schedule_kind="none", cron_expression="", **fields)
    data["after-job"] = [job for job, _ in rows]
    data["after-on"] = [on for _, on in rows]
    return data


def test_the_form_offers_the_teams_other_jobs_and_saves_the_rows(as_user, editor, team, other_team):
    JobFactory(team=team, natural_id="import")
    JobFactory(team=team, natural_id="export")
    JobFactory(team=other_team, natural_id="theirs")
    client = as_user(editor)
    page = client.get(CREATE).content.decode()
    assert '<option value="import">import</option>' in page
    assert "theirs" not in page
    data = _chain_form("report", [("import", "success"), ("export", "failure"), ("", "success")])
    data.update(after_all="on", after_within_seconds="900")
    response = client.post(CREATE, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    job = Job.objects.get(natural_id="report")
    assert job.after == [{"job": "import", "on": "success"}, {"job": "export", "on": "failure"}]
    assert (job.after_all, job.after_within_seconds, job.next_run_at) == (True, 900, None)
    detail = client.get(reverse("jobs:detail", kwargs={"job_id": job.pk})).content.decode()
    assert "After import succeeds and export fails, within 15 minutes of each other" in detail
    edit = client.get(reverse("jobs:edit", kwargs={"job_id": job.pk})).content.decode()
    assert '<option value="export" selected>export</option>' in edit
    assert 'value="report"' not in edit.split('class="after-editor"')[1].split("</ul>")[0]  # not itself


def test_a_loop_and_an_unknown_job_are_shown_on_the_editor(as_user, editor, team):
    client = as_user(editor)
    assert client.post(CREATE, _chain_form("a", [])).status_code == 302
    assert client.post(CREATE, _chain_form("b", [("a", "any")])).status_code == 302
    job = Job.objects.get(natural_id="a")
    response = client.post(reverse("jobs:edit", kwargs={"job_id": job.pk}), _chain_form("a", [("b", "success")]))
    assert response.status_code == 400
    assert response.context["form"].errors["after"] == [
        "This would make a loop of jobs starting each other: a → b → a."
    ]
    assert Job.objects.get(natural_id="a").after == []
    response = client.post(CREATE, _chain_form("c", [("ghost", "success")]))
    assert response.context["form"].errors["after"] == ["No job 'ghost' in team 'acme'."]
    assert not Job.objects.filter(natural_id="c").exists()


def test_the_preview_says_the_job_is_triggered_by_other_jobs(as_user, editor):
    params = {"schedule_kind": "none", "after-job": ["import"], "after-on": ["success"]}
    body = as_user(editor).get(PREVIEW, params).content.decode()
    assert "No clock: only when triggered" in body
    assert "Also triggered by other jobs' outcomes: runs after import succeeds." in body
    assert "No clock: it runs only when the jobs it follows end so" in body
    cron = {"schedule_kind": "cron", "cron_expression": "0 2 * * *", "after-job": ["a"], "after-on": ["failure"]}
    body = as_user(editor).get(PREVIEW, cron).content.decode()
    assert "runs after a fails" in body
    assert body.count("<time") == 5


def test_the_run_pages_link_a_started_run_and_the_runs_that_started_it(as_user, viewer, team):
    upstream_a, upstream_b = JobFactory(team=team, natural_id="a"), JobFactory(team=team, natural_id="b")
    follower = JobFactory(team=team, natural_id="c", schedule_kind="none", cron_expression="")
    run_a, run_b = RunFactory(job=upstream_a), RunFactory(job=upstream_b, end_reason="failed")
    started = RunFactory(job=follower, triggered_by=Run.Trigger.CHAIN, status="pending", end_reason="")
    RunLink.objects.create(run=started, job=follower, upstream=run_a, upstream_job=upstream_a, outcome="success")
    RunLink.objects.create(run=started, job=follower, upstream=run_b, upstream_job=upstream_b, outcome="failed")
    client = as_user(viewer)
    page = client.get(reverse("history:run-detail", kwargs={"run_id": started.pk})).content.decode()
    assert f'<a href="/runs/{run_a.pk}/" data-started-by>a run of a</a> (success)' in page
    assert f'<a href="/runs/{run_b.pk}/" data-started-by>a run of b</a> (failed)' in page
    page = client.get(reverse("history:run-detail", kwargs={"run_id": run_a.pk})).content.decode()
    assert "Its outcome started:" in page
    assert f'<a href="/runs/{started.pk}/" data-started>a run of c</a> · pending' in page
    # A run that started nothing and was started by nothing shows no chain.
    plain = RunFactory(job=upstream_a)
    page = client.get(reverse("history:run-detail", kwargs={"run_id": plain.pk})).content.decode()
    assert "data-chain" not in page


def test_the_api_run_detail_shows_both_directions(as_user, viewer, team):
    upstream = JobFactory(team=team, natural_id="import")
    follower = JobFactory(team=team, natural_id="report")
    done = RunFactory(job=upstream)
    started = RunFactory(job=follower, triggered_by=Run.Trigger.CHAIN)
    RunLink.objects.create(run=started, job=follower, upstream=done, upstream_job=upstream, outcome="success")
    client = as_user(viewer)
    chain = client.get(f"/api/jobs/import/history/{done.pk}").json()["chain"]
    assert chain == {
        "startedBy": [],
        "started": [
            {
                "runId": str(started.pk),
                "jobId": str(follower.pk),
                "naturalId": "report",
                "status": "ended",
                "endReason": "success",
                "href": f"/api/jobs/{follower.pk}/history/{started.pk}",
            }
        ],
    }
    body = client.get(f"/api/jobs/report/history/{started.pk}").json()
    assert body["triggeredBy"] == "chain"
    assert [link["runId"] for link in body["chain"]["startedBy"]] == [str(done.pk)]
    # Its upstream run pruned: the link stays, naming the job, without the run.
    RunLink.objects.filter(upstream=done).update(upstream=None)
    [gone] = client.get(f"/api/jobs/report/history/{started.pk}").json()["chain"]["startedBy"]
    assert (gone["runId"], gone["naturalId"], gone["endReason"]) == (None, "import", "success")
