"""Structured output: how a schema is asked for, how an answer is read and validated, and the repair prompt.

Three methods (`teacher.structured_output`): `function_calling` (a forced tool call; works with OpenAI, vLLM
and llama.cpp), `json_schema` (response_format with the schema) and `json_mode` (any JSON object). Every
method returns the raw AIMessage, so the raw answer and its usage are never lost to validation.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from distillgraph.agents.budget import Amount, prompt_token_bound, utf8_len
from distillgraph.prompts import PromptTemplate


@dataclass
class Answer:
    """One answered call: the raw text, the validated object (or the validation error) and its usage."""

    raw: str
    parsed: BaseModel | None
    error: str | None
    input_tokens: int
    output_tokens: int
    attempts: int
    lost: Amount = field(default_factory=Amount)  # timed-out attempts before it, charged as possibly billed


def answer_text(message: Any) -> str:
    """Raw answer text of an AIMessage: the first tool call's JSON arguments, else the content."""
    calls = (getattr(message, "additional_kwargs", None) or {}).get("tool_calls") or []
    if calls:
        return str(calls[0].get("function", {}).get("arguments") or "")
    if getattr(message, "tool_calls", None):
        return json.dumps(message.tool_calls[0]["args"])
    if getattr(message, "invalid_tool_calls", None):
        return str(message.invalid_tool_calls[0].get("args") or "")
    content = message.content
    if isinstance(content, list):
        content = "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def parse_answer(schema: type[BaseModel], text: str) -> tuple[BaseModel | None, str | None]:
    """Validate raw JSON against the schema; the error text is short enough to show the teacher."""
    if not text.strip():
        return None, "the answer was empty (no tool call and no JSON content)"
    try:
        return schema.model_validate_json(_strip_fences(text)), None
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:8]]
        return None, "; ".join(problems)


class StructuredOutput:
    """Binds chat models to a schema by one method, sizes what that adds to a prompt, reads answers."""

    def __init__(self, method: str, max_tokens: int, repair: PromptTemplate):
        self.method = method
        self.max_tokens = max_tokens
        self.repair = repair
        self._lock = threading.RLock()
        self._schemas: dict[type[BaseModel], dict] = {}
        self._specs: dict[type[BaseModel], dict] = {}

    def json_schema(self, schema: type[BaseModel]) -> dict:
        with self._lock:
            if schema not in self._schemas:
                self._schemas[schema] = schema.model_json_schema()
            return self._schemas[schema]

    def request_fields(self, schema: type[BaseModel]) -> dict:
        """The request body fields that carry the schema (tools + tool_choice, or response_format)."""
        with self._lock:
            if schema not in self._specs:
                self._specs[schema] = self._fields(schema)
            return self._specs[schema]

    def _fields(self, schema: type[BaseModel]) -> dict:
        if self.method == "function_calling":
            from langchain_core.utils.function_calling import convert_to_openai_tool

            name = schema.__name__
            return {"tools": [convert_to_openai_tool(schema)],
                    "tool_choice": {"type": "function", "function": {"name": name}}}
        if self.method == "json_schema":
            spec = {"name": schema.__name__, "schema": self.json_schema(schema)}
            return {"response_format": {"type": "json_schema", "json_schema": spec}}
        return {"response_format": {"type": "json_object"}}

    def bind(self, llm: Any, schema: type[BaseModel]) -> Any:
        """The chat model bound to the schema; invoking it returns the raw AIMessage."""
        if self.method == "function_calling":
            return llm.bind_tools([schema], tool_choice=schema.__name__, parallel_tool_calls=False)
        return llm.bind(response_format=self.request_fields(schema)["response_format"])

    def prompt_bound(self, schema: type[BaseModel], messages: list[dict]) -> int:
        """Upper bound of the prompt tokens a provider can bill for these messages with this schema."""
        return prompt_token_bound(messages, self.request_fields(schema))

    def to_answer(self, schema: type[BaseModel], message: Any, messages: list[dict], attempts: int) -> Answer:
        """Read and validate an AIMessage. Usage the server did not report is charged at its upper bound."""
        raw = answer_text(message)
        parsed, error = parse_answer(schema, raw)
        usage = getattr(message, "usage_metadata", None) or {}
        tokens_in = int(usage.get("input_tokens") or self.prompt_bound(schema, messages))
        tokens_out = int(usage.get("output_tokens") or min(self.max_tokens, utf8_len(raw)))
        return Answer(raw, parsed, error, tokens_in, tokens_out, attempts)

    def repair_messages(self, messages: list[dict], answer: Answer, schema: type[BaseModel]) -> list[dict]:
        """The one repair request: the original conversation plus the answer and what was wrong with it."""
        return messages + self.repair.render(answer=answer.raw, error=answer.error, schema_name=schema.__name__)
