"""Database layer: engine, schema, migrations. The only place that knows SQL dialects."""
