"""Who may run the instance: admins; to anyone else its pages and API do not exist."""

from __future__ import annotations

from personae.accounts.models import Account
from personae.errors import NotFound


def require_admin(account: Account | None) -> Account:
    """The account, if it is an admin; otherwise a 404 (we do not say what is there)."""
    if account is None or not account.is_admin:
        raise NotFound("there is no such page")
    return account
