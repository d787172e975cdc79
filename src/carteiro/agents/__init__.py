"""AI agents: LangChain tools built from the MCP tools and the natural-language sender."""
