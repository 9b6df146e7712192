"""The API's token authentication: DRF's, with its lookup as one SQL query.

Why not DRF's lookup as it is: ``Token.objects.select_related("user").get(key=...)``
is compiled by the ORM again on every request, since Django keeps no compiled
queries. Measured in process, that costs 0.25 ms against 0.07 ms for the same
join through ``Manager.raw()``, and it was most of the difference in a
post's creation between DRF's path and the project's before it (see
docs/benchmarks.md, "Token authentication").

What stays DRF's: the ``Authorization: Token <key>`` header and its errors
(``TokenAuthentication.authenticate``), the ``Token`` model and its admin, and
``authenticate_credentials`` as the one method overridden, which is DRF's
documented way of customising the lookup. What is used of Django's is public:
``Manager.raw()`` maps the row to a User with the ORM's own conversions, and
``Model.from_db()`` (the documented model-loading hook) builds the Token, whose
``created`` column is left deferred, read only if asked for.

Nothing is cached: a deleted token or a deactivated user is refused from the
next request on.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions


def token_user_sql(token_model: Any, alias: str) -> str:
    """``SELECT <the user's columns> FROM user JOIN token WHERE token.key = %s``,
    named from the models' metadata and quoted for the connection."""
    qn = connections[alias].ops.quote_name
    user_model = token_model._meta.get_field("user").related_model
    user_meta, token_meta = user_model._meta, token_model._meta
    user_table, token_table = qn(user_meta.db_table), qn(token_meta.db_table)
    columns = ", ".join(f"{user_table}.{qn(field.column)}" for field in user_meta.concrete_fields)
    return (
        f"SELECT {columns} FROM {user_table}"  # noqa: S608 - names from the models, quoted
        f" INNER JOIN {token_table} ON {token_table}.{qn(token_meta.get_field('user').column)}"
        f" = {user_table}.{qn(user_meta.pk.column)}"
        f" WHERE {token_table}.{qn(token_meta.pk.column)} = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token_model: Any = self.get_model()  # DRF's Token, unless a subclass names another model
        alias = router.db_for_read(token_model)
        user_field = token_model._meta.get_field("user")
        users = user_field.related_model._default_manager.db_manager(alias).raw(
            token_user_sql(token_model, alias), [key]
        )
        users = list(users)
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = token_model.from_db(alias, [token_model._meta.pk.attname, user_field.attname], [key, user.pk])
        token.user = user
        return user, token
