"""The composition root and its helpers: they build the services, the controller and the windows, and wire them."""
