"""The project's own app: what wires the apps together (the demo scenario and its `seed_demo`
command, the task schedule and its `run_worker` command), so that it may import every app above
it. Its one model is the schedule's slots."""

from django.apps import AppConfig


class ConfigConfig(AppConfig):
    name = "config"
    verbose_name = "Configuration"
