"""The console's and the docs' pages as the service serves them (no browser needed)."""

from __future__ import annotations

import re

from tests.calibration.conftest import Service


def test_the_console_is_a_public_page_that_holds_no_data(service: Service) -> None:
    r = service.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    # every file the page names is served from the package
    for path in re.findall(r'(?:src|href)="(/console/[^"]+)"', r.text):
        assert service.client.get(path).status_code == 200, path
    assert service.client.get("/console/pages/teach.js").status_code == 200
    assert service.client.get("/api/v1/whoami").status_code == 401  # data still needs a key


def test_a_key_in_the_console_url_is_refused_as_anywhere(service: Service) -> None:
    r = service.client.get("/?key=cvk_0123456789")
    assert r.status_code == 400
    assert "cvk_" not in r.text


def test_the_docs_name_no_other_host(service: Service) -> None:
    r = service.client.get("/docs")
    assert r.status_code == 200
    assert "cdn" not in r.text.lower() and "https://" not in r.text
    for path in re.findall(r"'(/docs-static/[^']+)'|\"(/docs-static/[^\"]+)\"", r.text):
        url = next(p for p in path if p)
        assert service.client.get(url).status_code == 200, url
    assert "/docs-static/swagger-ui-bundle.js" in r.text
    assert service.client.get("/redoc").status_code == 404
