"""The wire contract shared by client and server: error codes and vocabulary; no Qt, no I/O."""
