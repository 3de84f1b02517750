"""The admin user, created or brought up to date at every deploy (the seed's `users create`).

Re-running it resets the password to the deployed secret and makes sure the user has the Admin
role, so the secret in Secrets Manager is always the truth. Runs inside the configured
environment (the entrypoint sets it up before importing this module).
"""

from __future__ import annotations

from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

ADMIN_ROLE = "Admin"


def ensure_admin_user(*, username: str, password: str, email: str) -> str:
    """Create or update the user; return what was done, as one line."""
    with get_application_builder() as appbuilder:
        security_manager = appbuilder.sm
        role = security_manager.find_role(ADMIN_ROLE)
        user = security_manager.find_user(username=username)
        if user is None:
            created = security_manager.add_user(username, "Airflow", "Admin", email, role, password)
            if not created:
                raise RuntimeError(f"could not create user {username!r} (is the email {email!r} taken?)")
            return f"created admin user {username!r}"
        security_manager.reset_password(user.id, password)
        if role not in user.roles:
            user.roles.append(role)
            security_manager.update_user(user)
        return f"admin user {username!r} exists: password and role brought up to date"
