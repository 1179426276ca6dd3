"""Django app: ``"tandem"`` in INSTALLED_APPS adds ``manage.py tandem ...`` and tandem's system checks."""

from __future__ import annotations

from django.apps import AppConfig


class TandemConfig(AppConfig):
    name = "tandem"
    verbose_name = "django-tandem"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from tandem.checks import register

        register()
