"""A crontab as a manifest to review: schedules (CRON_TZ=, macros), comments as descriptions, MAILTO= as an email on
failure, and each curl or wget call as the request it makes. A line that cannot be translated is listed with its
number and the reason, never dropped silently."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jobs import schedules
from jobs.manifest.document import VERSION
from jobs.redact import is_secret_name

_ENV_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_OPERATORS = {"|", "||", "&&", ";", "&", "<"}
_REDIRECT_RE = re.compile(r"^(\d?>>?|&>>?|\d?>&\d)(.*)$")


@dataclass(frozen=True)
class Skipped:
    line: int
    text: str
    reason: str
    imported: bool = False  # True for a note on a line that was imported (a secret left out)


class Untranslatable(ValueError):
    pass


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _split_schedule(line: str) -> tuple[str, str]:
    if line.startswith("@"):
        macro, _, command = line.partition(" ")
        if macro.lower() == "@reboot":
            raise Untranslatable("@reboot runs at boot, not on a schedule")
        return macro.lower(), command.strip()
    fields = line.split(None, 5)
    if len(fields) < 6:
        raise Untranslatable("a schedule is 5 fields (or a macro) followed by a command")
    return " ".join(fields[:5]), fields[5]


def _words(command: str) -> list[str]:
    if re.search(r"(?<!\\)%", command):
        raise Untranslatable("% in a crontab command starts its input; an HTTP job has none")
    try:
        words = shlex.split(command.replace("\\%", "%"))
    except ValueError as exc:
        raise Untranslatable(f"the command does not parse: {exc}") from exc
    kept: list[str] = []
    skip_target = False
    for word in words:
        if skip_target:
            skip_target = False
            continue
        if word in _OPERATORS:
            raise Untranslatable("a chain or pipeline of commands is not one HTTP call")
        if "$(" in word or "`" in word:
            raise Untranslatable("a command substitution ($(…) or `…`) is run by the shell; an HTTP job has none")
        redirect = _REDIRECT_RE.match(word)
        if redirect:
            skip_target = not redirect.group(2) and not word.endswith(tuple("0123456789"))
            continue
        kept.append(word)
    return kept


def _header(text: str, request: dict[str, Any]) -> None:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise Untranslatable(f"not a header: {text!r}")
    request.setdefault("headers", {})[name.strip()] = value.strip()


def _curl(args: list[str], job: dict[str, Any]) -> None:
    request: dict[str, Any] = {}
    fail = False
    index = 0

    def value() -> str:
        nonlocal index
        index += 1
        if index >= len(args):
            raise Untranslatable(f"{args[index - 1]} needs a value")
        return args[index]

    while index < len(args):
        arg = args[index]
        long, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        take = (lambda given=inline: given) if inline else value  # --opt=value or --opt value
        if long in ("-X", "--request"):
            request["method"] = take().upper()
        elif long in ("-H", "--header"):
            _header(take(), request)
        elif long in ("-d", "--data", "--data-raw", "--data-binary", "--data-ascii"):
            request["body"] = take()
            request.setdefault("method", "POST")
            request.setdefault("headers", {}).setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif long == "--json":
            request["body"] = take()
            request.setdefault("method", "POST")
            request.setdefault("headers", {}).update({"Content-Type": "application/json", "Accept": "application/json"})
        elif long in ("-m", "--max-time"):
            request["timeoutMs"] = int(float(take()) * 1000)
        elif long in ("-A", "--user-agent"):
            request.setdefault("headers", {})["User-Agent"] = take()
        elif long == "--retry":
            job["retry"] = {"limit": int(take())}
        elif long in ("-o", "--output"):
            take()
        elif long in ("--fail", "--fail-with-body", "--silent", "--show-error", "--location"):
            fail |= long.startswith("--fail")
            if long == "--location":
                job.setdefault("successRule", {})["followRedirects"] = True
        elif re.fullmatch(r"-[fsSLk]+", arg):
            if "k" in arg:
                raise Untranslatable("-k (no TLS verification) has no equivalent: Hourglass always verifies")
            fail |= "f" in arg
            if "L" in arg:
                job.setdefault("successRule", {})["followRedirects"] = True
        elif arg.startswith("-"):
            raise Untranslatable(f"curl option {arg} is not translated")
        else:
            if "url" in request:
                raise Untranslatable("more than one URL")
            request["url"] = arg
        index += 1
    if not fail:
        # Without -f curl succeeds on any HTTP status; so does the job (add -f for success on 2xx only).
        job.setdefault("successRule", {})["statuses"] = "100-599"
    job["request"] = request


def _wget(args: list[str], job: dict[str, Any]) -> None:
    request: dict[str, Any] = {}
    job.setdefault("successRule", {})["followRedirects"] = True  # wget follows redirects by default
    index = 0
    while index < len(args):
        arg = args[index]
        name, eq, inline = arg.partition("=")
        if not eq and arg in ("-O", "--output-document", "--header", "-T", "--timeout", "--method", "--post-data"):
            index += 1
            if index >= len(args):
                raise Untranslatable(f"{arg} needs a value")
            inline = args[index]
        if arg in ("-q", "--quiet", "-O-", "-nv", "--no-verbose") or name in ("-O", "--output-document"):
            pass
        elif name == "--header":
            _header(inline, request)
        elif name == "--method":
            request["method"] = inline.upper()
        elif name in ("--post-data", "--body-data"):
            request["body"] = inline
            request.setdefault("method", "POST")
        elif name in ("-T", "--timeout"):
            request["timeoutMs"] = int(float(inline) * 1000)
        elif name == "--tries":
            job["retry"] = {"limit": max(0, int(inline) - 1)}
        elif arg == "--spider":
            request["method"] = "HEAD"
        elif arg.startswith("-"):
            raise Untranslatable(f"wget option {arg} is not translated")
        else:
            if "url" in request:
                raise Untranslatable("more than one URL")
            request["url"] = arg
        index += 1
    job["request"] = request


def _natural_id(url: str, taken: dict[str, Any]) -> str:
    parts = urlsplit(url)
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", f"{parts.hostname or 'job'}{parts.path}").strip("-.")[:90] or "job"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def _secret_refs(natural_id: str, request: dict[str, Any]) -> None:
    """A secret header's value is not written into a file meant for Git: it becomes an env reference."""
    for name, value in list((request.get("headers") or {}).items()):
        if is_secret_name(name):
            env = re.sub(r"[^A-Z0-9]+", "_", f"{natural_id}_{name}".upper()).strip("_")
            request["headers"][name] = {"secretFrom": f"env:{env}"}
            request.setdefault("_secrets", []).append((env, value))


def crontab_manifest(text: str) -> tuple[dict[str, Any], list[Skipped]]:
    """(the manifest, the lines not imported). Secret header values found are left out: each is an env: reference."""
    jobs: dict[str, Any] = {}
    skipped: list[Skipped] = []
    comments: list[str]
    zone, mailto, comments = "UTC", "", []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            comments = []
            continue
        if line.startswith("#"):
            comments.append(line.lstrip("#").strip())
            continue
        env = _ENV_RE.match(line)
        if env and not line.startswith("@"):
            comments = []
            name, value = env.group(1), _unquote(env.group(2))
            if name in ("CRON_TZ", "TZ"):
                try:
                    schedules.validate_timezone(value)
                    zone = value
                except schedules.ScheduleError as exc:
                    skipped.append(Skipped(number, line, exc.message))
            elif name == "MAILTO":
                mailto = value
            else:
                skipped.append(Skipped(number, line, f"{name}= sets the shell's environment; an HTTP job has none"))
            continue
        try:
            expression, command = _split_schedule(line)
            try:
                expression = schedules.validate_cron(expression)
            except schedules.ScheduleError as exc:
                raise Untranslatable(exc.message) from exc
            words = _words(command)
            program = words[0].rsplit("/", 1)[-1] if words else ""
            job: dict[str, Any] = {"schedule": {"kind": "cron", "expression": expression, "timezone": zone}}
            if program == "curl":
                _curl(words[1:], job)
            elif program == "wget":
                _wget(words[1:], job)
            else:
                raise Untranslatable(f"{program or 'the command'} is not an HTTP call (curl or wget)")
            if "url" not in job["request"]:
                raise Untranslatable("no URL")
        except (Untranslatable, ValueError) as exc:
            skipped.append(Skipped(number, line, str(exc)))
            comments = []
            continue
        natural_id = _natural_id(job["request"]["url"], jobs)
        _secret_refs(natural_id, job["request"])
        for env_name, _value in job["request"].pop("_secrets", []):
            note = f"a secret header's value is not written out: set {env_name} when applying"
            skipped.append(Skipped(number, line, note, imported=True))
        entry: dict[str, Any] = {}
        if comments:
            entry["description"] = "\n".join(comments)
        entry.update(job)
        if mailto:
            entry["notify"] = [{"kind": "email", "config": {"recipients": [a.strip() for a in mailto.split(",")]}}]
        jobs[natural_id] = entry
        comments = []
    return {"version": VERSION, "jobs": jobs}, skipped
