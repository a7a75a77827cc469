"""Pipelines: DAGs of jobs, transfers, model builds, checks and publishes, and what starts them."""

#: The file at the top of a deployed pipeline's source (its jobs' folders are under ``jobs/``).
DEPLOYED_FILE = "pipeline.yaml"
