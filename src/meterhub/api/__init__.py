"""The HTTP API: routes, dependencies, schemas, error handling."""
