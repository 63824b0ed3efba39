"""Create Superset's `admin` login, or set its password again, from SUPERSET_ADMIN_PASSWORD.

    python deploy/superset/set_admin.py      (Superset's Python; start.sh runs it after `superset init`)

The password is read from the environment (never from the command line, where `ps` shows it), so a
changed SUPERSET_ADMIN_PASSWORD applies at the next start. Errors are one line on stderr (exit 1).
"""
from __future__ import annotations

import os
import sys


def main() -> int:
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
    if not password:
        print("set_admin: error: SUPERSET_ADMIN_PASSWORD is empty", file=sys.stderr)
        return 1
    try:
        from superset.app import create_app

        app = create_app()
        with app.app_context():
            from superset import security_manager
            from superset.extensions import db

            role = security_manager.find_role("Admin")
            if role is None:
                print("set_admin: error: Superset has no Admin role: run `superset init` first", file=sys.stderr)
                return 1
            user = security_manager.find_user(username="admin")
            if user is None:
                if not security_manager.add_user("admin", "Superset", "Admin", "admin@localhost", role, password=password):
                    print("set_admin: error: Superset did not create the admin login", file=sys.stderr)
                    return 1
                action = "created"
            else:
                security_manager.reset_password(user.id, password)
                action = "password set"
            db.session.commit()
    except Exception as exc:  # noqa: BLE001 - one line; the traceback with GOVWH_DEBUG=1
        print(f"set_admin: error: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        if os.environ.get("GOVWH_DEBUG"):
            raise
        return 1
    print(f"[superset] admin login {action}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
