"""``cdrflow serve``: run the HTTP API on Flask's development server.

For development and trying things out only. Production runs the same app under gunicorn::

    gunicorn 'server:create_app()' -w 4 -b 127.0.0.1:8000

Options override the environment (DATABASE_URL, CDRFLOW_CONFIG, CDRFLOW_REFERENCE, ...; see
``engine.http.app.Settings``). The server refuses to start - exit code 2 and a message - when
the configuration has errors or the database is not migrated (``cdrflow db upgrade``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from engine.commands._common import EXIT_USAGE
from engine.commands.db import add_database_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (development server; production: gunicorn)",
                       description="Run the cdrflow HTTP API on Flask's development server. Production: "
                                   "gunicorn 'server:create_app()' -w 4 -b 127.0.0.1:8000 (settings from the "
                                   "environment).")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--config", metavar="DIR", default=None,
                   help="directory holding rules/ and mappings/ (default: $CDRFLOW_CONFIG, else .)")
    p.add_argument("--reference", metavar="DIR", default=None,
                   help="reference data directory (default: $CDRFLOW_REFERENCE, else <config>/samples/reference)")
    p.add_argument("--rules-backend", choices=("python", "durable"), default=None,
                   help="rule evaluator (default: $CDRFLOW_RULES_BACKEND, else python)")
    add_database_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.http.app import Settings, StartupError, create_app

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                            stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is ours
    try:
        settings = Settings.from_env(database_url=args.database_url, config_dir=args.config,
                                     reference_dir=args.reference, rules_backend=args.rules_backend)
        app = create_app(settings)
    except StartupError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    print(f"cdrflow: serving on http://{args.host}:{args.port} (development server; production: "
          "gunicorn 'server:create_app()' -w 4 -b 127.0.0.1:8000)", file=sys.stderr, flush=True)
    try:
        app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)
    except OSError as exc:  # port in use, permission denied
        print(f"cdrflow serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
