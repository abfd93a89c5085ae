"""hourglass plan|apply|export|runs — see `python -m hourglass_cli --help`. Standard library only.

Exit codes: 0 done (plan: no changes), 2 plan: changes to apply (as terraform plan -detailed-exitcode),
1 an error, a failed run (runs trigger --wait) or a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# secretFrom: env:NAME in YAML or JSON; the values are read here, on the client, and sent with the manifest.
_ENV_REFERENCE = re.compile(r"""secretFrom["']?\s*:\s*["']?env:([A-Za-z_][A-Za-z0-9_]*)""")
CHANGES, FAILED = 2, 1


class Failure(Exception):
    pass


class Client:
    def __init__(self, url: str, key: str, timeout: float = 60) -> None:
        self.base = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the user's own server
        request.add_header("Authorization", f"Bearer {self.key}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise Failure(_problem(exc.code, exc.read())) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise Failure(f"{url}: {getattr(exc, 'reason', exc)}") from None
        return json.loads(raw) if raw else None


def _problem(status: int, raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return f"HTTP {status}: {raw[:500].decode('utf-8', 'replace')}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return f"HTTP {status}: {body.get('detail', body) if isinstance(body, dict) else body}"
    lines = [f"HTTP {status}: {len(errors)} problem(s); nothing was changed"]
    for error in errors:
        line = f"line {error['line']}: " if error.get("line") else ""
        lines.append(f"  {line}{error['location'].removeprefix('body.manifest.')}: {error['message']}")
    return "\n".join(lines)


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def secrets_for(text: str) -> dict[str, str]:
    """The environment's values of the manifest's env: references (those unset are reported by the server)."""
    names = dict.fromkeys(_ENV_REFERENCE.findall(text))
    return {name: os.environ[name] for name in names if name in os.environ}


def _team(args: argparse.Namespace) -> str:
    team = args.team or os.environ.get("HOURGLASS_TEAM", "")
    if not team:
        raise Failure("give --team (or HOURGLASS_TEAM)")
    return urllib.parse.quote(team, safe="")


def plan_or_apply(client: Client, args: argparse.Namespace) -> int:
    text = _read(args.file)
    body = {"manifest": text, "secrets": secrets_for(text), "prune": args.prune}
    result = client.call("POST", f"/api/teams/{_team(args)}/manifest/{args.command}", body)
    if args.format == "json":
        result.pop("text", None)
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(result["text"], end="")
    return CHANGES if args.command == "plan" and result["changed"] else 0


def export(client: Client, args: argparse.Namespace) -> int:
    result = client.call("GET", f"/api/teams/{_team(args)}/manifest", query={"as": args.format})
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(result["text"])
    else:
        print(result["text"], end="")
    return 0


def _job(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def _run_line(run: dict[str, Any]) -> str:
    outcome = run.get("endReason") or run.get("status")
    status = run.get("httpStatus") or "-"
    return f"{run['id']}  {run.get('createdAt', '')}  {run.get('status', ''):<8} {outcome:<10} HTTP {status}"


def runs(client: Client, args: argparse.Namespace) -> int:
    if args.action == "list":
        page = client.call("GET", f"/api/jobs/{_job(args.job)}/history", query={"limit": args.limit})
        for run in page.get("_embedded", {}).get("inf:job-history", []):
            print(_run_line(run))
        return 0
    variables = dict(pair.split("=", 1) for pair in args.var)
    run = client.call("POST", f"/api/jobs/{_job(args.job)}/run", {"variables": variables} if variables else {})
    print(f"triggered {run['id']}", file=sys.stderr)
    if not args.wait:
        print(run["id"])
        return 0
    deadline = time.monotonic() + args.timeout
    while run.get("status") != "ended":
        if time.monotonic() > deadline:
            print(f"run {run['id']} has not ended after {args.timeout:g}s", file=sys.stderr)
            return FAILED
        time.sleep(args.interval)
        run = client.call("GET", f"/api/jobs/{_job(args.job)}/history/{run['id']}")
    print(_run_line(run))
    if not run.get("success"):
        detail = run.get("error") or f"HTTP {run.get('httpStatus')}"
        print(f"run {run['id']} failed: {run.get('endReason')}: {detail}", file=sys.stderr)
        return FAILED
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="hourglass", description="Hourglass from CI: HOURGLASS_URL and HOURGLASS_KEY name the server and the key."
    )
    commands = top.add_subparsers(dest="command", required=True)
    for name, text in (("plan", "what a manifest would change (exit 2 if anything)"), ("apply", "make it so")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("file", help="the manifest, YAML or JSON (- for stdin)")
        sub.add_argument("--team", help="team slug (or HOURGLASS_TEAM)")
        sub.add_argument("--prune", action="store_true", help="also delete the team's jobs the manifest leaves out")
        sub.add_argument("--format", choices=("table", "json"), default="table")
    sub = commands.add_parser("export", help="the team's jobs as a manifest")
    sub.add_argument("--team", help="team slug (or HOURGLASS_TEAM)")
    sub.add_argument("--format", choices=("yaml", "json"), default="yaml")
    sub.add_argument("-o", "--output", help="write to this file instead of stdout")
    sub = commands.add_parser("runs", help="a job's runs: list them, or trigger one")
    actions = sub.add_subparsers(dest="action", required=True)
    listed = actions.add_parser("list", help="the job's recent runs, newest first")
    listed.add_argument("job", help="natural ID or UUID")
    listed.add_argument("--limit", type=int, default=10)
    trigger = actions.add_parser("trigger", help="run the job now")
    trigger.add_argument("job", help="natural ID or UUID")
    trigger.add_argument("--wait", action="store_true", help="wait for the run to end; exit 1 unless it succeeded")
    trigger.add_argument("--timeout", type=float, default=300, help="seconds to wait (300)")
    trigger.add_argument("--interval", type=float, default=1, help="seconds between looks (1)")
    trigger.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a run variable")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    url, key = os.environ.get("HOURGLASS_URL", ""), os.environ.get("HOURGLASS_KEY", "")
    if not url or not key:
        print("hourglass: set HOURGLASS_URL and HOURGLASS_KEY", file=sys.stderr)
        return FAILED
    client = Client(url, key)
    handlers = {"plan": plan_or_apply, "apply": plan_or_apply, "export": export, "runs": runs}
    try:
        return handlers[args.command](client, args)
    except (Failure, OSError, ValueError) as exc:
        print(f"hourglass: {exc}", file=sys.stderr)
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
