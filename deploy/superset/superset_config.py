"""Superset's settings for the `bi` Compose profile and the Superset test (SUPERSET_CONFIG_PATH).

Secrets come from the environment only (start.sh refuses empty or placeholder ones). The metadata
database is SQLite in SUPERSET_HOME unless SUPERSET_DATABASE_URI names another: one analyst's
Superset beside the warehouse, not a shared BI server.
"""
import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ.get("SUPERSET_DATABASE_URI") or (
    "sqlite:///" + os.path.join(os.environ.get("SUPERSET_HOME", os.path.expanduser("~/.superset")), "superset.db"))
# charts read a mirror that changes once a night: a short cache keeps a refreshed dashboard current
CACHE_DEFAULT_TIMEOUT = 600
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 600}
# no calls home from a machine without internet
FEATURE_FLAGS = {"DASHBOARD_RBAC": False}
MAPBOX_API_KEY = ""
