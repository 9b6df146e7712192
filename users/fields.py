"""Model fields of the users app."""

from __future__ import annotations

from typing import Any

from django.db import models


class DatabaseCounterField(models.IntegerField):
    """An integer column that the database keeps (triggers), never ``save()``.

    ``Model.save()`` writes every concrete field, so an instance loaded before
    the database changed the counter would write the old number back. This
    field has ``save()`` write the column's own current value instead
    (``SET post_count = post_count``, evaluated by the database under the
    row's lock: always the number the triggers left), and the field's
    default on insert, which the database's insert trigger corrects.

    The Python attribute is what was loaded: ``refresh_from_db()`` reads the
    current number. To set the column anyway (a repair), use
    ``QuerySet.update()``, which writes what it is given.
    """

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if add:
            return super().pre_save(model_instance, add)
        return models.F(self.attname)
