"""The ASGI application: app factory, middleware, pages and static files."""
