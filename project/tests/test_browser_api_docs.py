"""The API docs render under the site's Content-Security-Policy."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

VIOLATIONS_JS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_api_docs_render_with_no_csp_violation(live_server, page):
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(VIOLATIONS_JS)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")  # drawn by Swagger UI's JavaScript
    assert page.evaluate("window.__csp") == []
    assert not [text for text in console if "Content Security Policy" in text]
