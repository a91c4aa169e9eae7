"""create_app: settings, refusing to start, errors as JSON, health."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy.exc import OperationalError

from engine.http.app import Settings, StartupError, create_app
from engine.http.runtime import EXTENSION
from httpkit import ROOT, new_token, settings_for


def test_settings_from_the_environment():
    settings = Settings.from_env({
        "DATABASE_URL": "sqlite:///x.db", "CDRFLOW_CONFIG": "/etc/cdrflow", "CDRFLOW_REFERENCE": "/srv/ref",
        "CDRFLOW_MAX_CONTENT_LENGTH": "2M", "CDRFLOW_MAX_BATCH": "50", "CDRFLOW_AUTH_CACHE_SECONDS": "5",
        "CDRFLOW_TRUSTED_PROXIES": "1",
    })
    assert settings == Settings(database_url="sqlite:///x.db", config_dir="/etc/cdrflow", reference_dir="/srv/ref",
                                max_content_length=2 * 1024 * 1024, max_batch=50, auth_cache_seconds=5.0,
                                trusted_proxies=1)
    defaults = Settings.from_env({})
    assert (defaults.database_url, defaults.config_dir, defaults.reference_dir) == (None, ".", None)
    assert (defaults.max_content_length, defaults.max_batch) == (16 * 1024 * 1024, 1000)
    assert Settings.from_env({"CDRFLOW_CONFIG": "a"}, config_dir="b", reference_dir=None).config_dir == "b"


@pytest.mark.parametrize("name,value", [("CDRFLOW_MAX_CONTENT_LENGTH", "lots"), ("CDRFLOW_MAX_BATCH", "1.5"),
                                        ("CDRFLOW_AUTH_CACHE_SECONDS", "soon")])
def test_bad_settings_are_a_clear_startup_error(name, value):
    with pytest.raises(StartupError, match=name):
        Settings.from_env({name: value})


def test_refuses_to_start_on_an_unmigrated_database(empty_db_url):
    with pytest.raises(StartupError, match="cdrflow db upgrade"):
        create_app(settings_for(empty_db_url))


def test_refuses_to_start_on_an_unreachable_database(tmp_path):
    with pytest.raises(StartupError, match="not reachable"):
        create_app(settings_for("postgresql+psycopg://nobody@127.0.0.1:1/none"))


def test_refuses_to_start_with_config_errors(tmp_path, db_url):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "rules", config / "rules")
    shutil.copytree(ROOT / "mappings", config / "mappings")
    path = config / "rules" / "classification.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nthis: [is broken\n", encoding="utf-8")
    with pytest.raises(StartupError) as info:
        create_app(settings_for(db_url, config_dir=str(config)))
    assert "configuration has errors" in str(info.value) and "classification.yaml" in str(info.value)


def test_refuses_to_start_without_rules_or_reference(tmp_path, db_url):
    with pytest.raises(StartupError, match="no rules/ directory"):
        create_app(settings_for(db_url, config_dir=str(tmp_path)))
    with pytest.raises(StartupError, match="does not exist"):
        create_app(settings_for(db_url, reference_dir=str(tmp_path / "missing")))


def test_healthz_needs_no_token_and_reports_database_and_config(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    runtime = app.extensions[EXTENSION]
    assert body["status"] == "ok"
    assert body["config_version"] == runtime.bundle.version
    assert body["database"]["reachable"] is True
    assert body["database"]["schema"] == body["database"]["schema_head"] == runtime.schema_head
    assert body["timestamp"].endswith("Z")


def test_healthz_is_503_when_the_database_is_gone(app, client, monkeypatch):
    runtime = app.extensions[EXTENSION]

    def broken():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(runtime.engine, "connect", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"]["reachable"] is False
    assert "connection refused" not in response.get_data(as_text=True)


def test_errors_are_json_never_html(app, client, auth):
    not_found = client.get("/nowhere", headers=auth)
    assert not_found.status_code == 404 and not_found.is_json
    assert not_found.get_json()["status_message"].startswith("no such endpoint: GET /nowhere")
    wrong_method = client.delete("/cdrs", headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.is_json
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method.get_json()["status_code"] == 2000


def test_an_unexpected_error_is_a_500_envelope_without_a_traceback(make_app, monkeypatch):
    app = make_app()
    headers = {"Authorization": f"Token {new_token(app)}", "X-Request-ID": "boom-1"}

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("engine.http.cdrs.current_decision", explode)
    response = app.test_client().get("/cdrs/DE/VLT/x", headers=headers)
    assert response.status_code == 500
    body = response.get_json()
    assert body["status_code"] == 3000 and "boom-1" in body["status_message"]
    assert "secret" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_a_database_outage_during_a_request_is_503(make_app, monkeypatch):
    app = make_app()
    headers = {"Authorization": f"Token {new_token(app)}"}

    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr("engine.http.cdrs.current_decision", down)
    response = app.test_client().get("/cdrs/DE/VLT/x", headers=headers)
    assert response.status_code == 503
    assert response.get_json()["status_code"] == 3000
    assert response.headers["Retry-After"]


def test_server_py_exposes_the_factory_only():
    import importlib.util

    spec = importlib.util.spec_from_file_location("server", ROOT / "server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)

    assert server.create_app is create_app
    assert not hasattr(server, "app")


def test_the_blueprint_list_is_one_line_per_module():
    from engine.http import app as app_module

    assert all(":" in spec for spec in app_module.BLUEPRINTS)
    assert len(set(app_module.BLUEPRINTS)) == len(app_module.BLUEPRINTS)


def test_reference_defaults_to_the_config_samples(db_url):
    app = create_app(Settings(database_url=db_url, config_dir=str(ROOT)))
    try:
        assert app.extensions[EXTENSION].source is not None
    finally:
        app.extensions[EXTENSION].engine.dispose()


def test_proxy_headers_are_trusted_only_when_configured(make_app):
    from httpkit import ADHOC, sample_bytes

    for proxies, expected in ((0, "http://localhost/"), (1, "https://billing.example.com/")):
        app = make_app(trusted_proxies=proxies)
        headers = {"Authorization": f"Token {new_token(app, f'cpms-{proxies}')}", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "billing.example.com"}
        response = app.test_client().post("/ocpi/2.2.1/cdrs", data=sample_bytes(ADHOC), headers=headers,
                                          content_type="application/json")
        assert response.headers["Location"].startswith(expected + "ocpi/2.2.1/cdrs/")
