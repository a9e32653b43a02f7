"""Prompt templates: the variables a template reads are parsed once, and a missing one is still an error."""

from __future__ import annotations

import jinja2.meta
import pytest

from distillgraph.prompts import PromptError, PromptLibrary


def test_render_parses_the_templates_once_and_still_checks_every_call(monkeypatch):
    tpl = PromptLibrary().get("annotator")
    calls = []
    real = jinja2.meta.find_undeclared_variables
    monkeypatch.setattr(jinja2.meta, "find_undeclared_variables", lambda ast: calls.append(1) or real(ast))
    first = tpl.render(**tpl.variables)
    n = len(calls)
    assert n == 2  # system and user
    assert tpl.render(**tpl.variables) == first
    assert len(calls) == n
    values = dict(tpl.variables)
    values.pop("text")
    with pytest.raises(PromptError, match="missing variable"):
        tpl.render(**values)
    tpl.used_variables().add("not-kept")  # callers get a copy
    assert "not-kept" not in tpl.used_variables()
