"""The people's console: server-rendered pages, their templates and vendored static files."""
