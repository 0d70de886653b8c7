"""An external agent's view of todo-chatbot's /mcp endpoint, through the official MCP Python
SDK: connect with a bearer token, list the tools, call add_task then list_tasks.

usage: client.py URL TOKEN TITLE   (prints one JSON object with what it saw; exit 1 on failure)
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def main(url: str, token: str, title: str) -> dict:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, streamable_http_client(url, http_client=http) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            added = await session.call_tool("add_task", {"title": title, "priority": "high", "tags": ["mcp"]})
            listed = await session.call_tool("list_tasks", {"search": title})
            missing = await session.call_tool("delete_task", {"task_id": 987654321})
            return {
                "tools": sorted(tool.name for tool in tools.tools),
                "add_schema_required": tools.tools[[t.name for t in tools.tools].index("add_task")].input_schema.get("required"),
                "added": added.structured_content,
                "added_is_error": added.is_error,
                "listed": listed.structured_content,
                "missing": missing.structured_content,
                "missing_is_error": missing.is_error,
            }


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))))
    except Exception as error:  # noqa: BLE001 - report anything to the Rust test
        print(f"mcp client failed: {error!r}", file=sys.stderr)
        sys.exit(1)
