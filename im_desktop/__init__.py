"""im-desktop: a desktop chat client with a trustworthy login lifecycle, and its built-in IM server."""

__version__ = "0.1.0"
APP_NAME = "im-desktop"
