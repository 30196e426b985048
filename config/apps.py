"""The project's own app: it holds no models, only what wires the apps together (the demo
scenario and its `seed_demo` command), so that it may import every app above it."""

from django.apps import AppConfig


class ConfigConfig(AppConfig):
    name = "config"
    verbose_name = "Configuration"
