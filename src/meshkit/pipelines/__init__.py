"""Pipelines: DAGs of jobs, transfers, model builds, checks and publishes, and what starts them."""
