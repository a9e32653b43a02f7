"""Prompt files: YAML with Jinja2 `system` and `user` templates, loaded by name.

A prompt file looks like::

    name: annotator
    version: 1
    description: what the prompt is for
    variables:            # every variable the templates use, with a sample value for `prompts check`
      text: "An article about ..."
    system: |
      You are ...
    user: |
      {{ text | delimit }}

Files in a user folder (`prompts.dir` or `--prompts DIR`) override the packaged ones by name.
Untrusted text (pool texts, student outputs) goes through the `delimit` filter, which fences it
and removes anything inside that could close the fence.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

PACKAGED_DIR = Path(__file__).parent
FENCE_OPEN = "<<<DATA"
FENCE_CLOSE = "DATA>>>"
RUN_PROMPTS = ("analyst", "generator", "annotator", "judge", "repair", "student", "cluster_name")  # what a run renders
# the fence words in any case and spacing; removed until none is left, so that removing one cannot
# join its neighbours into a new one ("DATDATA>>>A>>>" -> "DATA>>>")
_FENCE_LIKE = re.compile(r"<<<\s*DATA|DATA\s*>>>", re.IGNORECASE)


class PromptError(Exception):
    """A prompt file is missing, broken or inconsistent (a user error)."""


def _unfenced(value: Any) -> str:
    text = str(value)
    while True:
        cleaned = _FENCE_LIKE.sub("", text)
        if cleaned == text:
            return text
        text = cleaned


def delimit(value: Any) -> str:
    """Fence untrusted text; nothing inside can open or close a fence (prompt injection)."""
    return f"{FENCE_OPEN}\n{_unfenced(value).strip()}\n{FENCE_CLOSE}"


def inline(value: Any, n: int = 200) -> str:
    """A short untrusted value (a label, a student's output) quoted on one line, with no fence markers."""
    text = " ".join(_unfenced(value).split())
    return '"' + truncate_chars(text, n).replace('"', "'") + '"'


def truncate_chars(value: Any, n: int = 1500) -> str:
    text = str(value)
    return text if len(text) <= n else text[:n].rstrip() + " [...]"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    env.filters["delimit"] = delimit
    env.filters["clip"] = truncate_chars
    env.filters["inline"] = inline
    return env


@dataclass
class PromptTemplate:
    name: str
    version: str
    description: str
    variables: dict[str, Any]
    system: str
    user: str
    path: Path
    assistant: str = ""
    hash: str = ""
    _compiled: dict[str, jinja2.Template] = field(default_factory=dict, repr=False)
    _used: dict[tuple[str, ...], frozenset[str]] = field(default_factory=dict, repr=False)

    def used_variables(self, parts: tuple[str, ...] = ("system", "user", "assistant")) -> set[str]:
        """The variables the templates of `parts` read (parsed once per template: render asks every time)."""
        if parts not in self._used:
            env = _env()
            used: set[str] = set()
            for part in parts:
                used |= jinja2.meta.find_undeclared_variables(env.parse(getattr(self, part)))
            self._used[parts] = frozenset(used)
        return set(self._used[parts])

    def render(self, **values: Any) -> list[dict[str, str]]:
        """Render to chat messages. A variable the template needs but is not given is an error."""
        missing = sorted(v for v in self.used_variables(("system", "user")) if v not in values)
        if missing:
            raise PromptError(f"prompt {self.name}: missing variable(s) {', '.join(missing)} ({self.path})")
        try:
            msgs = []
            for role, src in (("system", self.system), ("user", self.user)):
                tpl = self._compiled.get(role)
                if tpl is None:
                    tpl = _env().from_string(src)
                    self._compiled[role] = tpl
                content = tpl.render(**values).strip()
                if content:
                    msgs.append({"role": role, "content": content})
            return msgs
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt {self.name}: {exc} ({self.path})") from None

    def render_assistant(self, **values: Any) -> str:
        """Render the optional `assistant` template (e.g. the student's target format)."""
        if not self.assistant:
            raise PromptError(f"prompt {self.name}: has no 'assistant' template ({self.path})")
        try:
            tpl = self._compiled.get("assistant")
            if tpl is None:
                tpl = _env().from_string(self.assistant)
                self._compiled["assistant"] = tpl
            return tpl.render(**values).strip()
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt {self.name}: {exc} ({self.path})") from None

    def check(self) -> list[str]:
        """Problems: undeclared or unused variables, or a failure to render the sample values."""
        problems = []
        used = self.used_variables()
        declared = set(self.variables)
        for v in sorted(used - declared):
            problems.append(f"{self.name}: variable '{v}' is used but not declared")
        for v in sorted(declared - used):
            problems.append(f"{self.name}: variable '{v}' is declared but not used")
        if not problems:
            try:
                self.render(**self.variables)
                if self.assistant:
                    self.render_assistant(**self.variables)
            except PromptError as exc:
                problems.append(str(exc))
        return problems


def load_prompt_file(path: Path) -> PromptTemplate:
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        kind = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid YAML"
        raise PromptError(f"prompt file {path}: {kind}") from None
    if not isinstance(data, dict):
        raise PromptError(f"prompt file {path}: expected a mapping with system/user templates")
    unknown = set(data) - {"name", "version", "description", "variables", "system", "user", "assistant"}
    if unknown:
        raise PromptError(f"prompt file {path}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(data.get("user"), str) or not data["user"].strip():
        raise PromptError(f"prompt file {path}: 'user' template is missing")
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise PromptError(f"prompt file {path}: 'variables' must map names to sample values")
    env = _env()
    for key in ("system", "user", "assistant"):
        try:
            env.parse(data.get(key) or "")
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"prompt file {path}: {key} template line {exc.lineno}: {exc.message}") from None
    tpl = PromptTemplate(
        name=str(data.get("name") or path.stem),
        version=str(data.get("version", "1")),
        description=str(data.get("description", "")),
        variables=variables,
        system=data.get("system") or "",
        user=data["user"],
        path=path,
        assistant=data.get("assistant") or "",
    )
    tpl.hash = hashlib.sha256(raw).hexdigest()[:16]
    return tpl


class PromptLibrary:
    """Prompts by name: the user folder first, then the packaged files."""

    def __init__(self, user_dir: str | Path | None = None):
        self.user_dir = Path(user_dir) if user_dir else None
        if self.user_dir is not None and not self.user_dir.is_dir():
            raise PromptError(f"prompts folder {self.user_dir} not found")
        self._cache: dict[str, PromptTemplate] = {}

    def path_of(self, name: str) -> Path:
        if self.user_dir is not None:
            for ext in (".yaml", ".yml"):
                p = self.user_dir / f"{name}{ext}"
                if p.exists():
                    return p
        p = PACKAGED_DIR / f"{name}.yaml"
        if p.exists():
            return p
        raise PromptError(f"prompt '{name}' not found (looked in {self.user_dir or '-'} and {PACKAGED_DIR})")

    def get(self, name: str) -> PromptTemplate:
        if name not in self._cache:
            self._cache[name] = load_prompt_file(self.path_of(name))
        return self._cache[name]

    def names(self) -> list[str]:
        names = {p.stem for p in PACKAGED_DIR.glob("*.yaml")}
        if self.user_dir is not None:
            names |= {p.stem for p in self.user_dir.glob("*.y*ml")}
        return sorted(names)

    def source(self, name: str) -> str:
        return "user" if self.user_dir is not None and self.path_of(name).parent == self.user_dir else "packaged"

    def check_supplied(self, names: tuple[str, ...]) -> None:
        """Fail before a run when a (user) prompt uses a variable distillgraph never supplies.

        What the program supplies is what the packaged prompt of that name declares."""
        for name in names:
            tpl = self.get(name)
            supplied = set(load_prompt_file(PACKAGED_DIR / f"{name}.yaml").variables)
            extra = sorted(tpl.used_variables() - supplied)
            if extra:
                raise PromptError(f"prompt {name}: uses variable(s) {', '.join(extra)} that distillgraph does not "
                                  f"supply (available: {', '.join(sorted(supplied))}) ({tpl.path})")

    def check_all(self) -> list[str]:
        problems = []
        for name in self.names():
            try:
                problems += self.get(name).check()
            except PromptError as exc:
                problems.append(str(exc))
        return problems
