"""`python -m im_desktop` (and the frozen executable): the desktop app, or the server with --run-server."""

import sys

from im_desktop.desktop.sandbox import RUN_SERVER_FLAG

if len(sys.argv) > 1 and sys.argv[1] == RUN_SERVER_FLAG:
    # The sandbox child process: import only the server, never Qt.
    from im_desktop.server.cli import main as server_main

    raise SystemExit(server_main(sys.argv[2:]))

# Qt is imported only here, when the app itself runs.
from im_desktop.desktop.launch import main

raise SystemExit(main())
