"""The HTTP shell of cdrflow (Flask): CDR ingestion (batch and OCPI receiver), Decisions, documents.

``engine.http.app.create_app`` builds the app; ``server.py`` at the repository top exposes it to
gunicorn (``gunicorn 'server:create_app()'``); ``cdrflow serve`` runs the development server.
No business logic lives here: the pure Pipeline decides and ``engine.store`` records.
"""
