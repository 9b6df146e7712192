"""Property-based tests of the whole API against its own OpenAPI schema, with
every check schemathesis has: no server error; status codes, content types
and headers as documented; schema-valid data accepted and invalid data
refused; authentication not ignored; and, run as a sequence of calls, a
created resource is there and a deleted one is gone. In-process, through the
WSGI application; the examples are bounded so that the run stays short."""

import copy
import sys

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, assume
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test
from openapi_spec_validator import validate
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from posts.services import post_create
from project.testing.api import make_user
from project.wsgi import application

# The same document /api/schema/ serves (a test below holds them equal), built without a request.
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)

# Where a schema-valid request may still be refused with a 400 for a rule that
# OpenAPI 3.0 cannot state: credentials (a wrong password is a 400 from the
# token and password endpoints), Django's password validators and the
# uniqueness of usernames and addresses (sign-up, account updates), and on
# the post list, ?ordering= together with ?cursor= (a pair of parameters
# that exclude each other) or a search text the search cannot take. (429:
# the log-in lockout, after generated wrong passwords.)
RULES_BEYOND_THE_SCHEMA = ["auth_token_create", "auth_password_create", "users_create", "users_update"]
RULES_BEYOND_THE_SCHEMA += ["users_partial_update", "posts_list"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-operation-id": operation,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "429"]}
                },
            }
            for operation in RULES_BEYOND_THE_SCHEMA
        ]
        + [
            # A generated If-Match cannot name the post's real ETag: 412, as documented.
            {
                "include-operation-id": operation,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "412", "429"]}
                },
            }
            for operation in ("posts_update", "posts_partial_update", "posts_destroy")
        ]
    }
)
# Copies: loading and validating change the document in place.
schema = schemathesis.openapi.from_dict(copy.deepcopy(SCHEMA), config=CONFIG)
schema.app = application
# The test user's API token: fixed, since the examples are made when the tests are collected.
TOKEN = "5c4e1f0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e"


@schema.auth()
class TokenAuth:
    """The test user's token, given the way the schema says (so that the
    ignored-auth check knows what it removes or spoils)."""

    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


# Derandomized: the same examples on every run, so that CI's verdict does not depend on luck.
BOUNDED = hypothesis_settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture
def token(db, settings):
    # The in-process client calls the app as "localhost".
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    alice = make_user("alice")
    post_create(author=alice, title="Hello", body="World")
    # Requests go straight to the WSGI app, whose request signals would close
    # the test's database connection (PostgreSQL, MariaDB) in the middle of
    # its transaction; Django's own test client detaches them the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield Token.objects.create(user=alice, key=TOKEN).key
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_served_schema_is_the_one_tested(anon_client):
    served = anon_client.get("/api/schema/?format=json")
    assert served.json()["paths"] == SCHEMA["paths"]


def test_the_schema_is_valid_openapi():
    validate(copy.deepcopy(SCHEMA))


def test_every_operation_documents_its_errors_and_json_bodies_only():
    for path, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            answers = operation["responses"]
            assert {"401", "429"} <= set(answers), (method, path)
            if "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"], (method, path)
                assert {"400", "413", "415"} <= set(answers), (method, path)
            if method in {"post", "put", "patch", "delete"}:
                assert "403" in answers, (method, path)
    retry_after = SCHEMA["components"]["responses"]["TooManyRequests"]["headers"]["Retry-After"]
    assert retry_after["required"] is True


@schema.parametrize()
@BOUNDED
def test_api_conforms_to_its_schema(case, token):
    if sys.version_info < (3, 11):
        # Python 3.10 gets schemathesis 4.30 (4.31+ needs 3.11), whose WSGI
        # transport cannot serialise some generated multipart bodies.
        assume(case.media_type in (None, "application/json"))
    # Every check schemathesis has (none named means all of them).
    case.call_and_validate()


def test_api_workflows_find_created_resources_and_lose_deleted_ones(token):
    """Sequences of calls linked through the schema (a created post, then its
    read, change and delete), with every check, ``use_after_free`` and
    ``ensure_resource_availability`` among them."""
    run_state_machine_as_test(
        schema.as_state_machine(),
        settings=hypothesis_settings(
            max_examples=5,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
