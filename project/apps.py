from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """Project-wide glue that needs an app: system checks, templates."""

    name = "project"
    verbose_name = "Project"

    def ready(self) -> None:
        from project import checks  # noqa: F401  (registers the system checks)
