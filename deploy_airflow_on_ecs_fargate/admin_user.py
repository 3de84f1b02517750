"""The admin user, created or brought up to date at every deploy (the seed's `users create`).

Re-running it resets the password to the deployed secret and makes sure the user has the Admin
role, so the secret in Secrets Manager is always the truth. Runs inside the configured
environment: Airflow is imported only when the function runs, after the entrypoint set it up.
"""

from __future__ import annotations

ADMIN_ROLE = "Admin"


class AdminUserError(Exception):
    """The admin user could not be created or updated; the message is one line."""


def ensure_admin_user(*, username: str, password: str, email: str) -> str:
    """Create or update the user; return what was done, as one line."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
    from airflow.providers.fab.auth_manager.security_manager.override import FabException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with get_application_builder() as appbuilder:
            security_manager = appbuilder.sm
            role = security_manager.find_role(ADMIN_ROLE)
            user = security_manager.find_user(username=username)
            if user is None:
                if not security_manager.add_user(username, "Airflow", "Admin", email, role, password):
                    raise AdminUserError(f"could not create admin user {username!r}")
                return f"created admin user {username!r}"
            security_manager.reset_password(user.id, password)
            if role not in user.roles:
                user.roles.append(role)
                security_manager.update_user(user)
            return f"admin user {username!r} exists: password and role brought up to date"
    except (FabException, SQLAlchemyError) as error:
        reason = _root_cause(error)
        if "email" in reason:
            raise AdminUserError(
                f"could not create admin user {username!r}: is the e-mail {email!r} taken by another user?"
                " Set AIRFLOW_ADMIN_EMAIL to another address"
            ) from None
        raise AdminUserError(f"the metadata database refused the admin user step: {reason}") from None


def _root_cause(error: BaseException) -> str:
    """The first line of the innermost exception: FAB wraps the database's own message twice."""
    while error.__cause__ is not None:
        error = error.__cause__
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
