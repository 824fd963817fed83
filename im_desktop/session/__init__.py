"""The session layer: the login lifecycle, reconnects and the local cache; Qt only through QtCore."""
