"""The floor of an MCP stdio round trip: a server whose one tool returns its argument.

    python bench/echo_server.py        # speaks MCP over stdio, like `coderows serve`

bench_queries.py times it beside coderows, with the same client, so that what the SDK's
transport costs (JSON-RPC, validation, a worker thread per call, threads for stdin and
stdout) is told apart from what coderows's lookups cost.
"""

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo", log_level="WARNING")


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run()
