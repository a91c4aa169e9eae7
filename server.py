"""The WSGI entry point for production - no business logic here.

    gunicorn 'server:create_app()' -w 4 -b 127.0.0.1:8000

gunicorn calls the factory once per worker; the settings come from the environment
(DATABASE_URL, CDRFLOW_CONFIG, CDRFLOW_REFERENCE, CDRFLOW_MAX_CONTENT_LENGTH, CDRFLOW_MAX_BATCH,
... - see engine.http.app.Settings). Importing this module creates no app, so it is cheap and
side-effect free. For development use ``cdrflow serve``.
"""

from engine.http.app import create_app

__all__ = ["create_app"]
