"""The API docs render under the site's Content-Security-Policy."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_docs_render_with_no_csp_violation(live_server, page, csp_violations):
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")  # drawn by Swagger UI's JavaScript
    page.wait_for_load_state("load")
    assert csp_violations == []
