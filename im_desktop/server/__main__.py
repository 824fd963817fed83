"""`python -m im_desktop.server`: run the built-in IM server."""

from im_desktop.server.cli import main

raise SystemExit(main())
