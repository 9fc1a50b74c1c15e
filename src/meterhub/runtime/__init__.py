"""Process-level helpers every meterhub process shares: how children are started and die
with their parent (``children``), the allocator tuning of the long-running processes
(``allocator``) and the one log format (``logs``)."""
