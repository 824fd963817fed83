"""The widgets: dumb views that show state and emit what the user wants; no I/O here."""
