"""What one tool call may send and receive.

Every tool argument is bounded in the tool's schema (pydantic Field constraints, which
clients see as maxLength / minimum / maximum), and `ToolCallLimits`, a server
middleware, holds both directions at the edge, whatever the tool:
- arguments that break a tool's schema are refused with one line naming the argument
  and the rule (the SDK's own message is a multi-line pydantic report), before any
  tool code or database work runs; a string argument that declares no bound is held
  to UNDECLARED_STRING_CHARS;
- no answer, error or not, carries more than MAX_ANSWER_BYTES of text: the renderers
  keep to a smaller budget so that their paging line fits, and anything that still
  overflows (a PostgreSQL error quoting a huge literal, say) is cut here, saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from coderows.server.echo import shown

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 16_000  # README, "MCP tools": every answer stays under this
NAME_CHARS = 1_000  # a dotted name or a path; CPython's and Django's longest are under 200
TEXT_CHARS = 1_000  # search_code's text: a line or two of code
MAX_OFFSET = 1_000_000_000  # far past any real page; keeps SQL OFFSET inside bigint
UNDECLARED_STRING_CHARS = 100_000  # any string argument whose schema declares no maxLength
CUT_NOTE = "\n[cut at the {limit:,}-byte answer limit: {size:,} bytes in all]"


def refusal(tool: str, arguments: dict[str, Any], arg_model: Any) -> str | None:
    """One line saying why `arguments` break `tool`'s schema, else None."""
    try:
        arg_model.model_validate(arguments)
    except ValidationError as error:
        return one_line(tool, error)
    for name, value in arguments.items():
        if isinstance(value, str) and len(value) > UNDECLARED_STRING_CHARS:
            return too_long(tool, name, value, UNDECLARED_STRING_CHARS)
    return None


def too_long(tool: str, name: str, value: str, limit: int) -> str:
    return (
        f"Error executing tool {tool}: argument {name!r} is {len(value):,} characters long, "
        f"at most {limit:,} are accepted (it starts {shown(value)})"
    )


def one_line(tool: str, error: ValidationError) -> str:
    """pydantic's first complaint, without the rejected value (it may be megabytes)."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "arguments"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    message = " ".join(str(first["msg"]).split())[:200]
    return f"Error executing tool {tool}: argument {where!r}: {message}{more}"


def capped(text: str, limit: int = MAX_ANSWER_BYTES) -> str:
    """`text` if it fits in `limit` bytes; else its head, cut at a line break when one
    is near, and a last line saying it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = CUT_NOTE.format(limit=limit, size=len(data))
    head = data[: limit - len(note.encode("utf-8"))].decode("utf-8", errors="ignore")
    line_end = head.rfind("\n")
    if line_end > len(head) // 2:
        head = head[:line_end]
    return head + note


def error_result(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def capped_result(result: Any) -> Any:
    """A tools/call result (the wire dict) with its text held to MAX_ANSWER_BYTES."""
    if not isinstance(result, dict) or not isinstance(result.get("content"), list):
        return result
    room = MAX_ANSWER_BYTES
    content = []
    for block in result["content"]:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            block = {**block, "text": capped(block["text"], max(room, 0))}
            room -= len(block["text"].encode("utf-8"))
        content.append(block)
    return {**result, "content": content}


class ToolCallLimits:
    """Server middleware: see the module docstring."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server

    async def __call__(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.method != "tools/call" or not isinstance(ctx.params, dict):
            return await call_next(ctx)
        tool_name = ctx.params.get("name")
        arguments = ctx.params.get("arguments") or {}
        model = self.argument_model(tool_name)
        if model is not None and isinstance(arguments, dict):
            refused = refusal(str(tool_name), arguments, model)
            if refused:
                log.info("refused a call of %s: %s", tool_name, refused[:300])
                return error_result(refused)
        return capped_result(await call_next(ctx))

    def argument_model(self, name: object) -> Any:
        """The pydantic model the SDK validates `name`'s arguments with; None for an
        unknown tool (the SDK answers that itself). The SDK has no public accessor."""
        if not isinstance(name, str):
            return None
        tool = self.server._tool_manager.get_tool(name)
        return None if tool is None else tool.fn_metadata.arg_model
