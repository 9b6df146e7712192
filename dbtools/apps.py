from django.apps import AppConfig
from django.db.models.signals import pre_migrate


class DbtoolsConfig(AppConfig):
    name = "dbtools"
    verbose_name = "Database tools"

    def ready(self) -> None:
        from dbtools.migrate_backup import backup_before_migrate

        pre_migrate.connect(backup_before_migrate, dispatch_uid="dbtools.backup_before_migrate")
