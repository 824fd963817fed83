"""This machine's storage: settings, the cache, the keyring, private files, start at login, the log; no Qt."""
