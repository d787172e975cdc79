"""OAuth 2.1 for hosted MCP clients: dynamic client registration, PKCE, grants mapped to keys."""
