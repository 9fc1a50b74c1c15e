"""`meterhub bench`: one module per case (ingest, latency, queries, memory), each with
`run(size, workdir) -> CaseResult`; see docs/performance.md for the latest figures."""
