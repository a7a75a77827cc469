"""Exporters: the workspace's stores and decisions in the configuration of other systems."""
