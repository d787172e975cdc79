"""The REST API: app factory, the request harness (dependencies, router), errors, routers."""
