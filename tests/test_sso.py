"""Single sign-on is configuration: with SSO_OIDC_PROVIDERS / SSO_SAML_PROVIDERS set, the login
page offers the providers and signing in sends the browser to the identity provider.

Settings are read at start-up, so the configured app runs in its own process against this test
database; a local HTTP server plays the identity provider (OIDC discovery and SAML metadata)."""

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import threading
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings

from core.testing import database_url_for_subprocess

pytestmark = pytest.mark.django_db(transaction=True)


def self_signed_cert() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@pytest.fixture
def idp():
    cert = self_signed_cert()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            base = f"http://127.0.0.1:{self.server.server_port}"
            if self.path == "/oidc/.well-known/openid-configuration":
                body = json.dumps(
                    {
                        "issuer": f"{base}/oidc",
                        "authorization_endpoint": f"{base}/oidc/authorize",
                        "token_endpoint": f"{base}/oidc/token",
                        "userinfo_endpoint": f"{base}/oidc/userinfo",
                        "jwks_uri": f"{base}/oidc/jwks",
                    }
                ).encode()
                content_type = "application/json"
            elif self.path == "/saml/metadata":
                body = textwrap.dedent(
                    f"""\
                    <EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"
                        xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{base}/saml">
                      <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
                        <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
                          <ds:X509Certificate>{cert}</ds:X509Certificate>
                        </ds:X509Data></ds:KeyInfo></KeyDescriptor>
                        <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
                            Location="{base}/saml/sso"/>
                      </IDPSSODescriptor>
                    </EntityDescriptor>"""
                ).encode()
                content_type = "application/xml"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


PROBE = """
import django, json
django.setup()
from django.test import Client
client = Client(HTTP_HOST="tokenledger.example.com")
out = {"login_page": client.get("/accounts/login/").content.decode()}
oidc = client.post("/accounts/oidc/corp-sso/login/")
out["oidc_status"], out["oidc_location"] = oidc.status_code, oidc.get("Location", "")
saml = client.post("/accounts/saml/corp-saml/login/")
out["saml_status"], out["saml_location"] = saml.status_code, saml.get("Location", "")
meta = client.get("/accounts/saml/corp-saml/metadata/")
out["metadata_status"], out["metadata"] = meta.status_code, meta.content.decode()
print("PROBE" + json.dumps(out))
"""


def test_oidc_and_saml_providers_from_configuration(idp):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_subprocess(),
        "DJANGO_ALLOWED_HOSTS": "tokenledger.example.com",
        "SSO_OIDC_PROVIDERS": json.dumps(
            [
                {
                    "id": "corp-sso",
                    "name": "Corporate SSO",
                    "client_id": "tokenledger",
                    "secret": "s3cret",
                    "server_url": f"{idp}/oidc",
                }
            ]
        ),
        "SSO_SAML_PROVIDERS": json.dumps(
            [
                {
                    "id": "corp-saml",
                    "name": "Corporate SAML",
                    "entity_id": f"{idp}/saml",
                    "metadata_url": f"{idp}/saml/metadata",
                }
            ]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True, timeout=120
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("PROBE")), None)
    assert line, result.stderr[-3000:]
    out = json.loads(line[5:])
    assert "Sign in with Corporate SSO" in out["login_page"] and "Sign in with Corporate SAML" in out["login_page"]
    assert out["oidc_status"] == 302 and out["oidc_location"].startswith(f"{idp}/oidc/authorize?")
    assert "client_id=tokenledger" in out["oidc_location"] and "code_challenge=" in out["oidc_location"]
    assert out["saml_status"] == 302 and out["saml_location"].startswith(f"{idp}/saml/sso?SAMLRequest=")
    assert out["metadata_status"] == 200 and "AssertionConsumerService" in out["metadata"]


def test_without_configuration_no_providers(client):
    assert b"Sign in with" not in client.get("/accounts/login/").content
