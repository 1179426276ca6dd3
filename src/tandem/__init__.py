"""django-tandem: serve a Django project's HTTP and WebSocket traffic unified or split, from one command."""

__version__ = "0.1.0"
