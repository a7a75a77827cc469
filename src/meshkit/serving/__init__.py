"""Governed SQL endpoints for the tools analysts use: PostgreSQL wire, Arrow Flight SQL, a REST data API."""
