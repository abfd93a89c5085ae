"""A manifest's text (YAML or JSON) as data, with the line of every key and item so errors point at the file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

VERSION = 1
TOP_KEYS = ("version", "jobs")
MAX_TEXT = 2_000_000

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: where (a JSON path and, for YAML, a line) and what."""

    path: Path
    message: str
    line: int | None = None

    @property
    def location(self) -> str:
        return json_path(self.path)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.location}: {self.message}"


class ManifestError(Exception):
    """Every problem of a manifest at once; nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


def json_path(path: Path) -> str:
    """("jobs", "a.b", "steps", 0, "url") → jobs["a.b"].steps[0].url"""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part and all(c.isalnum() or c in "_-" for c in part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "$"


@dataclass
class Document:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of the deepest part of `path` the file has (a missing key: its parent's)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(path, message, self.line(path))


def _lines(node: yaml.Node, path: Path, found: dict[Path, int], twice: list[Problem]) -> None:
    """Each path's line into `found`; a key given twice in one object into `twice` (YAML would keep the last)."""
    found.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            child = (*path, str(key.value))
            if child[-1] in seen:
                twice.append(Problem(child, "This key is given twice.", key.start_mark.line + 1))
                continue
            seen.add(str(key.value))
            found[child] = key.start_mark.line + 1
            _lines(value, child, found, twice)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), found, twice)


def _no_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"the key {repeated[0]!r} is given twice in one object")
    return dict(pairs)


def parse(text: str) -> Document:
    """A manifest's text: JSON when it starts with `{`, YAML otherwise (one document, no aliases)."""
    if len(text) > MAX_TEXT:
        raise ManifestError([Problem((), f"At most {MAX_TEXT:,} characters.")])
    if text.lstrip().startswith("{"):
        try:
            return Document(json.loads(text, object_pairs_hook=_no_twice))
        except (ValueError, RecursionError) as exc:
            line = getattr(exc, "lineno", None)
            as_json = ManifestError([Problem((), f"Not valid JSON: {exc}", line)])
        try:
            return _yaml(text)  # a YAML flow mapping starts with "{" too
        except ManifestError:
            raise as_json from None
    return _yaml(text)


def _yaml(text: str) -> Document:
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise ManifestError([Problem((), "YAML anchors and aliases are not taken; write each job out.")])
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ManifestError([Problem((), f"Not valid YAML: {getattr(exc, 'problem', None) or exc}", line)]) from None
    except RecursionError:
        raise ManifestError([Problem((), "Nested too deeply.")]) from None
    lines: dict[Path, int] = {}
    twice: list[Problem] = []
    if node is not None:
        _lines(node, (), lines, twice)
    if twice:
        raise ManifestError(twice)
    return Document(data, lines)


def check_top(document: Document) -> list[Problem]:
    """The document's frame: an object with `version: 1` and `jobs`, an object keyed by natural ID."""
    data = document.data
    if not isinstance(data, dict):
        return [document.problem((), "A manifest is an object with `version: 1` and `jobs`.")]
    problems = [document.problem((str(key),), "Unknown field.") for key in data if key not in TOP_KEYS]
    if data.get("version") != VERSION:
        problems.append(document.problem(("version",), f"Give `version: {VERSION}`."))
    jobs = data.get("jobs", {})
    if jobs is None:
        jobs = {}
    if not isinstance(jobs, dict):
        problems.append(document.problem(("jobs",), "`jobs` is an object: each key a job's ID, each value the job."))
    return problems


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(data: Any, fmt: str = "yaml", header: str = "") -> str:
    """The manifest as text; `header` lines become YAML comments (JSON has none: it is left out)."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    return comment + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
