import pytest
from django.core.exceptions import ValidationError

from jobs.steps import topological_order, validate_steps


def http(name, *deps, url="https://example.com/", **extra):
    return {"name": name, "depends_on": list(deps), "config": {"url": url, **extra}}


def test_it_orders_steps_by_dependency_then_as_given():
    steps = validate_steps([http("zeta"), http("report", "fetch"), http("fetch"), http("alpha", "zeta")])
    assert [s["name"] for s in steps] == ["zeta", "fetch", "report", "alpha"]
    assert [s["position"] for s in steps] == [0, 1, 2, 3]


def test_it_puts_notifications_after_requests():
    mail = {"name": "alert", "kind": "email", "run_if": "on_failure", "config": {"recipients": ["ops@x.test"]}}
    steps = validate_steps([mail, http("main")])
    assert [s["name"] for s in steps] == ["main", "alert"]


def test_it_breaks_ties_by_name_without_a_priority():
    assert topological_order({"zeta": [], "report": ["fetch"], "fetch": [], "alpha": ["zeta"]}) == [
        "fetch",
        "report",
        "zeta",
        "alpha",
    ]


def test_it_rejects_a_cycle():
    with pytest.raises(ValidationError) as info:
        validate_steps([http("a", "c"), http("b", "a"), http("c", "b"), http("d")])
    assert info.value.message_dict == {"steps": ["Steps form a dependency cycle: a, b, c."]}


def test_it_rejects_an_unknown_dependency():
    with pytest.raises(ValidationError) as info:
        validate_steps([http("fetch"), http("report", "fetsh")])
    assert info.value.message_dict == {"steps[1].depends_on": ["Step 'report' depends on unknown step(s): 'fetsh'."]}


def test_it_rejects_a_self_dependency():
    with pytest.raises(ValidationError, match="cycle"):
        topological_order({"a": ["a"]})


def test_it_fills_request_defaults_for_the_one_url_case():
    (step,) = validate_steps([{"config": {"url": "https://example.com/hook"}}])
    assert step == {
        "name": "main",
        "kind": "http",
        "run_if": "on_success",
        "depends_on": [],
        "position": 0,
        "config": {"method": "GET", "url": "https://example.com/hook", "headers": {}, "body": "", "timeout_ms": 30000},
    }


@pytest.mark.parametrize(
    ("config", "field", "text"),
    [
        ({"url": "ftp://example.com/"}, "steps[0].config.url", "absolute http:// or https:// URL"),
        ({"url": ""}, "steps[0].config.url", "A URL is required"),
        ({"url": "https://x.test/", "headers": {"X-A": "ok\r\nInjected: 1"}}, "steps[0].config.headers", "CR, LF"),
        ({"url": "https://x.test/", "headers": {"Bad Name": "v"}}, "steps[0].config.headers", "Invalid header name"),
        ({"url": "https://x.test/", "method": "BREW"}, "steps[0].config.method", "Unsupported method"),
        ({"url": "https://x.test/", "timeout_ms": 0}, "steps[0].config.timeout_ms", "timeout must be"),
    ],
)
def test_it_explains_a_bad_request(config, field, text):
    with pytest.raises(ValidationError) as info:
        validate_steps([{"name": "main", "config": config}])
    assert text in " ".join(info.value.message_dict[field])


def test_it_validates_email_recipients():
    with pytest.raises(ValidationError, match="valid email"):
        validate_steps([http("main"), {"name": "mail", "kind": "email", "config": {"recipients": ["nope"]}}])
    steps = validate_steps(
        [
            http("main"),
            {
                "name": "mail",
                "kind": "email",
                "run_if": "on_failure",
                "config": {"recipients": "a@x.test, b@x.test", "after_failures": 3},
            },
        ]
    )
    assert steps[1]["config"]["recipients"] == ["a@x.test", "b@x.test"]
    assert steps[1]["config"]["after_failures"] == 3
