"""The MCP server: tool modules per domain over one harness, stdio and streamable HTTP."""
