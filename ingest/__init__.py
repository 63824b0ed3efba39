"""Open data warehouse of Vietnam's public-governance indicators: ingestion package.

Flow: catalogue -> fetch (land raw files by hash) -> parse (tidy tables) -> dbt -> publish.
"""
__version__ = "0.1.0"
