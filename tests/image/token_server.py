#!/usr/bin/env python3
"""A registry token service for docker-registry's `auth: token` mode: grants
every scope asked for, as RS256 JWTs with the signing certificate in x5c
(the registry checks it against its rootcertbundle). Logs each request.

    token_server.py DIR ISSUER    DIR holds key.pem and cert.pem; writes DIR/port, DIR/requests"""
import base64
import json
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

D, ISSUER = sys.argv[1], sys.argv[2]
KEY = serialization.load_pem_private_key(open(f"{D}/key.pem", "rb").read(), None)
CERT = x509.load_pem_x509_certificate(open(f"{D}/cert.pem", "rb").read())
X5C = base64.b64encode(CERT.public_bytes(serialization.Encoding.DER)).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(service, scopes):
    access = []
    for s in scopes:
        typ, name, actions = s.split(":", 2) if s.count(":") >= 2 else (None, None, None)
        if typ:
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "anonymous", "aud": service, "exp": now + 600, "nbf": now - 10,
              "iat": now, "jti": b64url(os.urandom(12)), "access": access}
    head = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    signing = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = KEY.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64url(sig)


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        with open(f"{D}/requests", "a") as f:
            f.write(self.path + "\n")
        if u.path != "/token":
            self.send_response(404)
            self.end_headers()
            return
        tok = jwt(q.get("service", [""])[0], q.get("scope", []))
        body = json.dumps({"token": tok, "access_token": tok, "expires_in": 600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = HTTPServer(("127.0.0.1", 0), H)
with open(f"{D}/port.tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(f"{D}/port.tmp", f"{D}/port")
srv.serve_forever()
