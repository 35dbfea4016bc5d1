#!/usr/bin/python3
"""Integration tests of coffer-kbs and coffer-kbs-client over real HTTPS on
localhost (a test CA made here with openssl), with python3-jwcrypto as the
independent JOSE implementation and a Python RCAR client written from the
protocol description (kbs-protocol.md), not from coffer's code.

usage: kbs_test.py GROUP KBS CLIENT EVIDENCE_TOOL ATTEST_DATA
Exit 0 pass, 1 fail, 77 prerequisite missing."""
import base64
import hashlib
import http.client
import json
import os
import resource
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    from jwcrypto import jwe as jjwe, jwk as jjwk, jwt as jjwt
except ImportError:
    print("SKIP: python3-jwcrypto is not installed (apt-get install python3-jwcrypto)")
    sys.exit(77)

GROUP, KBS, CLIENT, TOOL, DATA = sys.argv[1:6]
TMP = tempfile.mkdtemp(prefix="kbs-test-")
failures = []
procs = []


def check(cond, msg):
    if cond:
        print(f"ok   {msg}")
    else:
        print(f"FAIL {msg}")
        failures.append(msg)
    return cond


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, **kw)


def write(name, data, mode="w"):
    p = os.path.join(TMP, name)
    with open(p, mode) as f:
        f.write(data)
    return p


def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(obj):
    # Enough of RFC 8785 for this data: strings and objects, ASCII keys.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ---- PKI and broker ----------------------------------------------------

def make_ca(name):
    key, crt = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".crt")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN=coffer test {name}").check_returncode()
    return key, crt


def make_server_cert(ca_key, ca_crt):
    key, csr, crt = (os.path.join(TMP, "srv." + e) for e in ("key", "csr", "crt"))
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1").check_returncode()
    ext = write("san.ext", "subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
       "-out", crt, "-days", "2", "-extfile", ext).check_returncode()
    return key, crt


CA_KEY, CA_CRT = make_ca("ca")
SRV_KEY, SRV_CRT = make_server_cert(CA_KEY, CA_CRT)
ADMIN_PRIV, ADMIN_PUB = os.path.join(TMP, "admin.jwk"), os.path.join(TMP, "admin.pub.jwk")
sh(CLIENT, "gen-admin-key", ADMIN_PRIV, ADMIN_PUB).check_returncode()
RES = os.path.join(TMP, "res")
os.makedirs(os.path.join(RES, "default", "key"))
SECRET = secrets.token_bytes(48)
with open(os.path.join(RES, "default", "key", "one"), "wb") as f:
    f.write(SECRET)
POLICY_ALL_SAMPLE = {"rules": [{"name": "sample-any", "resource": "default/*/*", "tee": ["sample"],
                                "status": ["affirming", "warning", "contraindicated"]}]}


def start_kbs(extra=None, args=None, expect_fail=False):
    cfg = {"listen": "127.0.0.1:0", "tls": {"cert": SRV_CRT, "key": SRV_KEY},
           "admin_jwk": ADMIN_PUB, "resource_dir": RES,
           "policy": write("policy.json", json.dumps(POLICY_ALL_SAMPLE)),
           "sample": {"enabled": True}}
    cfg.update(extra or {})
    path = write(f"kbs{len(procs)}.json", json.dumps(cfg))
    p = subprocess.Popen(args or [KBS, "--config", path], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(TMP, f"kbs{len(procs)}.log"), "w"), text=True)
    procs.append(p)
    line = p.stdout.readline()
    if "listening on" not in line:
        if not expect_fail:
            raise SystemExit(f"coffer-kbs did not start: {line!r}")
        return p, None
    return p, line.split("listening on ")[1].strip()


def ctx(ca=CA_CRT):
    c = ssl.create_default_context(cafile=ca)
    return c


class Kbs:
    """A minimal HTTP client that keeps the session cookie."""

    def __init__(self, url, ca=CA_CRT):
        self.url, self.ca, self.cookie = url, ca, None
        scheme, rest = url.split("://")
        self.host, port = rest.rsplit(":", 1)
        self.port, self.tls = int(port), scheme == "https"

    def req(self, method, path, body=None, headers=None, raw=False):
        conn = (http.client.HTTPSConnection(self.host, self.port, context=ctx(self.ca), timeout=20)
                if self.tls else http.client.HTTPConnection(self.host, self.port, timeout=20))
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        sc = r.getheader("Set-Cookie")
        if sc and sc.startswith("kbs-session-id="):
            self.cookie = sc.split(";")[0]
        conn.close()
        return r.status, data

    def auth(self, tee="sample", version="0.4.0"):
        st, data = self.req("POST", "/kbs/v0/auth", {"version": version, "tee": tee, "extra-params": ""})
        return st, (json.loads(data) if data else None)


def tee_pubkey(key):
    pub = key.export_public(as_dict=True)
    pub = {k: pub[k] for k in ("kty", "crv", "x", "y", "n", "e") if k in pub}
    pub["alg"] = "ECDH-ES+A256KW" if pub["kty"] == "EC" else "RSA-OAEP-256"
    return pub


def runtime_digest(pub, nonce):
    return hashlib.sha384(jcs({"tee-pubkey": pub, "nonce": nonce, "additional-evidence": ""})).digest()


def attestation(pub, nonce, evidence, init=None):
    a = {"runtime-data": {"nonce": nonce, "tee-pubkey": pub},
         "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}}
    if init is not None:
        a["init-data"] = {"format": "toml", "body": init}
    return a


def sample_evidence(digest, init_hex=None):
    e = {"svn": "1", "report_data": b64(digest)}
    if init_hex is not None:
        e["init_data"] = init_hex
    return e


def rcar(k, key, tee="sample", evidence=None, init=None, sign_key=None):
    """Python RCAR: returns (status, body) of /attest."""
    st, ch = k.auth(tee)
    if st != 200:
        return st, ch
    pub = tee_pubkey(key)
    digest = runtime_digest(tee_pubkey(sign_key or key), ch["nonce"])
    ev = evidence(digest, ch["nonce"]) if evidence else sample_evidence(digest)
    st, data = k.req("POST", "/kbs/v0/attest", attestation(pub, ch["nonce"], ev, init))
    return st, json.loads(data) if data else None


def err_type(data):
    try:
        o = json.loads(data) if isinstance(data, (bytes, str)) else data
        return o["type"].rsplit("/", 1)[1], o["detail"]
    except Exception:
        return None, str(data)[:200]


def refused(what, st, data, status, variant, words=""):
    t, d = err_type(data)
    return check(st == status and t == variant and words.lower() in (d or "").lower() and d,
                 f"{what}: {st} {t}: {d[:140] if d else d}")


def alive(k, p):
    st, _ = k.req("GET", "/healthz")
    return check(st == 200 and p.poll() is None, "server still up and answering /healthz")


def client(url, *args, ca=CA_CRT):
    a = [CLIENT, "--url", url] + (["--ca", ca] if ca else []) + list(args)
    r = sh(*a)
    try:
        return r.returncode, json.loads(r.stdout.strip().splitlines()[-1]), r.stderr
    except Exception:
        return r.returncode, {}, r.stderr + r.stdout


# ---- groups -------------------------------------------------------------

def group_rcar_https():
    p, url = start_kbs()
    check(url.startswith("https://127.0.0.1:"), f"serves HTTPS: {url}")
    for kt in ("ec", "rsa"):
        rc, out, err = client(url, "--key-type", kt, "get-resource", "kbs:///default/key/one")
        check(rc == 0 and base64.b64decode(out.get("data_base64", "")) == SECRET,
              f"C client ({kt} TEE key): RCAR over HTTPS and the resource decrypted {err[:200]}")
    rc, out, err = client(url, "attest")
    check(rc == 0 and out["token"].count(".") == 2, "C client attest prints a token")
    # The client passes evidence through as text: it must still be one JSON value.
    for bad_ev in ('{"attestation_report": [1, 2', '{} {}', '{"a": 01}'):
        rc, out, err = client(url, "--tee", "snp", "--evidence", write("bad_ev.json", bad_ev), "attest")
        check(rc == 1 and "well-formed JSON" in out.get("error", ""), f"client refuses malformed evidence {bad_ev!r}: {out.get('error', err)[:100]}")
    rc, out, err = client(url, "attest", ca=None)
    check(rc == 1 and ("certificate" in out.get("error", "").lower() or "ssl" in out.get("error", "").lower()),
          f"without the test CA the server is not trusted: {out.get('error', '')[:120]}")
    _, other = make_ca("other")
    rc, out, err = client(url, "attest", ca=other)
    check(rc == 1, "a different CA (pinning) is refused")
    # Admin: write a resource, then a policy that denies it naming the rule.
    data = write("new.bin", "new secret\n")
    rc, out, _ = client(url, "--admin-key", ADMIN_PRIV, "set-resource", "kbs:///default/cfg/new", data)
    check(rc == 0, "admin set-resource")
    rc, out, _ = client(url, "get-resource", "kbs:///default/cfg/new")
    check(rc == 0 and base64.b64decode(out["data_base64"]) == b"new secret\n", "new resource released")
    deny = write("deny.json", json.dumps({"rules": [{"name": "tdx-only", "resource": "default/cfg/*",
                                                      "tee": ["tdx"]}]}))
    rc, out, _ = client(url, "--admin-key", ADMIN_PRIV, "set-policy", deny)
    check(rc == 0, "admin set-policy")
    rc, out, _ = client(url, "get-resource", "kbs:///default/cfg/new")
    check(rc == 1 and "tdx-only" in out.get("error", ""), f"policy denial names the rule: {out.get('error')}")
    rc, out, _ = client(url, "get-resource", "kbs:///default/key/one")
    check(rc == 1 and "default deny" in out.get("error", ""), f"no rule: default deny: {out.get('error')}")
    allow = write("allow.json", json.dumps(POLICY_ALL_SAMPLE))
    client(url, "--admin-key", ADMIN_PRIV, "set-policy", allow)
    rc, out, _ = client(url, "--admin-key", ADMIN_PRIV, "delete-resource", "kbs:///default/cfg/new")
    check(rc == 0 and not os.path.exists(os.path.join(RES, "default/cfg/new")), "admin delete-resource")
    rc, out, _ = client(url, "get-resource", "kbs:///default/cfg/new")
    check(rc == 1 and "not found" in out.get("error", ""), "deleted resource: 401 not found")
    # Admin with another key, or none.
    sh(CLIENT, "gen-admin-key", os.path.join(TMP, "evil.jwk"), os.path.join(TMP, "evil.pub")).check_returncode()
    rc, out, _ = client(url, "--admin-key", os.path.join(TMP, "evil.jwk"), "set-resource",
                        "kbs:///default/key/one", data)
    check(rc == 1 and "admin token refused" in out.get("error", ""), "admin token of another key refused")
    k = Kbs(url)
    st, d = k.req("POST", "/kbs/v0/resource/default/key/one", b"x")
    refused("admin write without a token", st, d, 401, "AdminAuthAccess")
    with open(os.path.join(RES, "default/key/one"), "rb") as f:
        check(f.read() == SECRET, "resource unchanged by refused admin writes")
    rc, out, _ = client(url, "export-jwk")
    check(rc == 0 and out["keys"][0]["kty"] == "EC" and "d" not in out["keys"][0], "export-jwk: public key only")
    alive(k, p)


def group_jwcrypto():
    p, url = start_kbs()
    k0 = Kbs(url)
    st, jwks = k0.req("GET", "/kbs/v0/token-jwks")
    keyset = jjwk.JWKSet.from_json(jwks)
    broker = list(keyset["keys"])[0] if hasattr(keyset, "__getitem__") else None
    for kty in ("EC", "RSA"):
        key = jjwk.JWK.generate(kty="EC", crv="P-256") if kty == "EC" else jjwk.JWK.generate(kty="RSA", size=2048)
        k = Kbs(url)
        st, body = rcar(k, key)
        if not check(st == 200, f"{kty}: Python RCAR (jwcrypto key) attested: {body}"):
            continue
        token = body["token"]
        st, data = k.req("GET", "/kbs/v0/resource/default/key/one")
        check(st == 200, f"{kty}: resource fetched with the session cookie")
        resp = json.loads(data)
        check(sorted(resp) == ["ciphertext", "encrypted_key", "iv", "protected", "tag"],
              f"{kty}: JWE members as Trustee sends them: {sorted(resp)}")
        hdr = unb64url(resp["protected"]).decode()
        want = '{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":' if kty == "EC" \
            else '{"alg":"RSA-OAEP-256","enc":"A256GCM"}'
        check(hdr.startswith(want), f"{kty}: protected header compact, in Trustee's order: {hdr[:90]}")
        e = jjwe.JWE()
        e.deserialize(data.decode(), key=key)
        check(e.payload == SECRET, f"{kty}: jwcrypto decrypts coffer-kbs's JWE to the resource")
        # The token verifies with the published key.
        t = jjwt.JWT(jwt=token, key=broker)
        claims = json.loads(t.claims)
        cpu0 = claims["submods"]["cpu0"]
        ev = cpu0["ear.veraison.annotated-evidence"]
        check(json.loads(t.header)["alg"] == "ES256" and "jwk" in json.loads(t.header),
              f"{kty}: token is ES256 with the signer's jwk in the header")
        check(ev["runtime_data_claims"]["tee-pubkey"] == tee_pubkey(key) and
              cpu0["ear.status"] in ("affirming", "warning", "contraindicated") and
              claims["exp"] - claims["iat"] == 300 and
              claims["eat_profile"] == "tag:github.com,2024:confidential-containers/Trustee" and
              set(cpu0["ear.trustworthiness-vector"]) >= {"executables", "hardware", "configuration"},
              f"{kty}: jwcrypto verifies the EAR token; claims as specified (status {cpu0['ear.status']})")
        # Bearer token instead of the cookie.
        kb = Kbs(url)
        st, data = kb.req("GET", "/kbs/v0/resource/default/key/one", headers={"Authorization": "Bearer " + token})
        ok = st == 200
        if ok:
            e = jjwe.JWE()
            e.deserialize(data.decode(), key=key)
            ok = e.payload == SECRET
        check(ok, f"{kty}: bearer token releases the resource to the same key")
        bad = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        st, data = kb.req("GET", "/kbs/v0/resource/default/key/one", headers={"Authorization": "Bearer " + bad})
        refused(f"{kty}: altered bearer token", st, data, 401, "TokenVerifierError")
        # Another key cannot decrypt what was released.
        other = jjwk.JWK.generate(kty="EC", crv="P-256") if kty == "EC" else jjwk.JWK.generate(kty="RSA", size=2048)
        try:
            e = jjwe.JWE()
            e.deserialize(data.decode() if st == 200 else k.req("GET", "/kbs/v0/resource/default/key/one")[1].decode(), key=other)
            check(False, f"{kty}: another key decrypted the resource")
        except Exception:
            check(True, f"{kty}: only the attested key decrypts")
    # The other direction: coffer's client decrypts JWEs made by jwcrypto.
    for kty, alg in (("EC", "ECDH-ES+A256KW"), ("RSA", "RSA-OAEP-256")):
        key = jjwk.JWK.generate(kty="EC", crv="P-256") if kty == "EC" else jjwk.JWK.generate(kty="RSA", size=2048)
        priv = json.loads(key.export_private())
        priv["alg"] = alg
        kp = write(f"jw-{kty}.jwk", json.dumps(priv))
        msg = secrets.token_bytes(77)
        e = jjwe.JWE(msg, protected=json.dumps({"alg": alg, "enc": "A256GCM"}))
        e.add_recipient(key)
        jp = write(f"jw-{kty}.jwe", e.serialize(compact=False))
        r = sh(CLIENT, "jwe-decrypt", "--key", kp, jp)
        out = json.loads(r.stdout or "{}")
        check(r.returncode == 0 and base64.b64decode(out.get("data_base64", "")) == msg,
              f"{kty}: coffer's client decrypts a jwcrypto JWE ({alg}, A256GCM) {r.stderr[:150]}")
        other = write(f"other-{kty}.jwk", json.dumps(json.loads(
            (jjwk.JWK.generate(kty="EC", crv="P-256") if kty == "EC" else jjwk.JWK.generate(kty="RSA", size=2048)).export_private()) | {"alg": alg}))
        r = sh(CLIENT, "jwe-decrypt", "--key", other, jp)
        check(r.returncode == 1, f"{kty}: a jwcrypto JWE does not decrypt with another key")
    alive(k0, p)


def group_abuse():
    p, url = start_kbs({"session_timeout_s": 2, "max_body_bytes": 65536})
    key, key2 = jjwk.JWK.generate(kty="EC", crv="P-256"), jjwk.JWK.generate(kty="EC", crv="P-256")
    pub = tee_pubkey(key)
    # version and tee
    k = Kbs(url)
    for v in ("0.3.0", "0.4.1", "0.1.1", ""):
        st, d = k.req("POST", "/kbs/v0/auth", {"version": v, "tee": "sample", "extra-params": ""})
        refused(f"/auth version {v!r}", st, d, 401, "AttestationError", "version")
    st, d = k.req("POST", "/kbs/v0/auth", {"tee": "sample"})
    refused("/auth without version", st, d, 401, "SerdeError")
    for tee in ("tpm", "az-snp-vtpm", "SNP", "", "sample "):
        st, d = k.req("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": tee, "extra-params": ""})
        refused(f"/auth unknown tee {tee!r}", st, d, 401, "AttestationError", "not accepted")
    for body in (b"", b"{", b'{"version":"0.4.0","tee":"sample\\u0000"}', b"[]", b"\x00\xff", b"{\"version\":\"0.4.0\",\"version\":\"0.4.0\",\"tee\":\"sample\"}",
                 b"[" * 5000):
        st, d = k.req("POST", "/kbs/v0/auth", body)
        refused(f"/auth malformed body {body[:20]!r}", st, d, 401, "SerdeError")
    # wrong nonce
    k = Kbs(url)
    st, ch = k.auth()
    wrong = b64(secrets.token_bytes(32))
    st, d = k.req("POST", "/kbs/v0/attest", attestation(pub, wrong, sample_evidence(runtime_digest(pub, wrong))))
    refused("/attest with a wrong nonce", st, d, 401, "AttestationError", "nonce")
    st, d = k.req("POST", "/kbs/v0/attest", attestation(pub, ch["nonce"], sample_evidence(runtime_digest(pub, ch["nonce"]))))
    refused("a failed /attest burns the session (retry on it)", st, d, 401, "AttestationError", "no live session")
    # reused nonce: the nonce of an attested session, on a new session
    ka = Kbs(url)
    st, cha = ka.auth()
    body_a = attestation(pub, cha["nonce"], sample_evidence(runtime_digest(pub, cha["nonce"])))
    st, d = ka.req("POST", "/kbs/v0/attest", body_a)
    check(st == 200, "session A attested")
    tok_a = json.loads(d)["token"]
    kb = Kbs(url)
    kb.auth()
    st, d = kb.req("POST", "/kbs/v0/attest", body_a)
    refused("/attest replaying another session's nonce and evidence", st, d, 401, "AttestationError", "nonce")
    st, d = ka.req("POST", "/kbs/v0/attest", body_a)
    check(st == 200 and json.loads(d)["token"] == tok_a, "the same /attest repeated on its session returns its token")
    pub2 = tee_pubkey(key2)
    st, d = ka.req("POST", "/kbs/v0/attest", attestation(pub2, cha["nonce"], sample_evidence(runtime_digest(pub2, cha["nonce"]))))
    refused("second /attest with other evidence on an attested session", st, d, 401, "AttestationError", "already attested")
    # report_data of another key
    k = Kbs(url)
    st, body = rcar(k, key, sign_key=key2)
    refused("report_data bound to another key", st, body, 401, "AttestationError", "report_data does not bind")
    # tee-pubkey shapes
    for bad in ({"kty": "EC", "crv": "P-384", "alg": "ECDH-ES+A256KW", "x": b64url(b"\1" * 48), "y": b64url(b"\2" * 48)},
                dict(pub, alg="RSA1_5"), dict(pub, x=b64url(b"\1" * 32)), dict(pub, d=b64url(b"\3" * 32))):
        k = Kbs(url)
        st, ch = k.auth()
        st, d = k.req("POST", "/kbs/v0/attest", attestation(bad, ch["nonce"], sample_evidence(runtime_digest(bad, ch["nonce"]))))
        refused(f"unacceptable tee-pubkey {str(bad)[:40]}", st, d, 401, "AttestationError", "tee-pubkey")
    # init-data: matching and not
    toml = ('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'
            '"aa.toml" = \'\'\'\n[token_configs.kbs]\nurl = "https://kbs:8080"\n\'\'\'\n'
            '"cdh.toml" = \'\'\'\nsocket = "unix:///run/cdh.sock"\n[kbc]\nname = "cc_kbc"\nports = [1, 2]\nstrict = true\n\'\'\'\n'
            '"policy.rego" = "package agent_policy"\n')
    dig = hashlib.sha384(toml.encode()).digest()
    k = Kbs(url)
    st, body = rcar(k, key, init=toml, evidence=lambda d, n: sample_evidence(d, dig[:32].hex()))
    ok = st == 200
    ae = {}
    if ok:
        claims = json.loads(unb64url(body["token"].split(".")[1]))
        ae = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
        ok = ae.get("init_data") == dig.hex()
    check(ok, "init-data whose digest the evidence carries: attested, token has init_data")
    want = {"aa.toml": {"token_configs": {"kbs": {"url": "https://kbs:8080"}}},
            "cdh.toml": {"socket": "unix:///run/cdh.sock", "kbc": {"name": "cc_kbc", "ports": [1, 2], "strict": True}},
            "policy.rego": "package agent_policy"}
    check(ae.get("init_data_claims") == want, f"token init_data_claims: [data] with aa.toml/cdh.toml as JSON ({ae.get('init_data_claims')})")
    for bad_toml, why in (('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = "[unclosed"\n', "aa.toml"),
                          ('version = "0.1.0"\nalgorithm = "sha384"\n[data]\nx = 1\n', "not a string"),
                          ('version = "0.1.0"\nalgorithm = "sha384"\n[data\n', "TOML")):
        d2 = hashlib.sha384(bad_toml.encode()).digest()
        k = Kbs(url)
        st, body = rcar(k, key, init=bad_toml, evidence=lambda d, n: sample_evidence(d, d2[:32].hex()))
        refused(f"init-data that is not a TOML string map ({why})", st, body, 401, "AttestationError", why)
    k = Kbs(url)
    st, body = rcar(k, key, init=toml, evidence=lambda d, n: sample_evidence(d, hashlib.sha384(b"other").digest()[:32].hex()))
    refused("init-data not matching the evidence's digest", st, body, 401, "AttestationError", "does not match")
    k = Kbs(url)
    st, ch = k.auth()
    a = attestation(pub, ch["nonce"], sample_evidence(runtime_digest(pub, ch["nonce"])))
    a["init-data"] = {"format": "json", "body": "{}"}
    st, d = k.req("POST", "/kbs/v0/attest", a)
    refused("init-data in a format other than toml", st, d, 401, "AttestationError", "toml")
    # No cookie, unattested session, expired session
    st, d = Kbs(url).req("POST", "/kbs/v0/attest", body_a)
    refused("/attest without a session cookie", st, d, 401, "AttestationError", "no live session")
    k = Kbs(url)
    k.auth()
    st, d = k.req("GET", "/kbs/v0/resource/default/key/one")
    refused("resource on an authenticated but not attested session", st, d, 401, "TokenNotFound")
    k = Kbs(url)
    st, ch = k.auth()
    time.sleep(3)
    st, d = k.req("POST", "/kbs/v0/attest", attestation(pub, ch["nonce"], sample_evidence(runtime_digest(pub, ch["nonce"]))))
    refused("/attest on an expired session", st, d, 401, "AttestationError", "expired")
    st, d = ka.req("GET", "/kbs/v0/resource/default/key/one")
    refused("resource on an expired attested session", st, d, 401, "TokenNotFound")
    # Path traversal and malformed paths, on an attested session.
    k = Kbs(url)
    st, body = rcar(k, key)
    for path in ("/kbs/v0/resource/../key/one", "/kbs/v0/resource/default/../one",
                 "/kbs/v0/resource/default/key/..", "/kbs/v0/resource/%2e%2e/key/one",
                 "/kbs/v0/resource/default%2Fkey%2Fone", "/kbs/v0/resource/default/key/..%2F..%2Fetc%2Fpasswd",
                 "/kbs/v0/resource/default//one", "/kbs/v0/resource/default/key/", "/kbs/v0/resource//key/one",
                 "/kbs/v0/resource/default/key/one/x", "/kbs/v0/resource/default/key/one%00",
                 "/kbs/v0/resource/default/key", "/kbs/v0/../../etc/passwd"):
        st, d = k.req("GET", path)
        refused(f"GET {path}", st, d, 404, "InvalidRequestPath")
    st, d = k.req("GET", "/kbs/v0/resource/default/key/one")
    check(st == 200, "the same session still gets the valid path")
    # Oversized bodies: by Content-Length, and chunked beyond the limit.
    # Only the headers are sent: the broker refuses before reading the body.
    conn = http.client.HTTPSConnection(k.host, k.port, context=ctx(), timeout=20)
    conn.putrequest("POST", "/kbs/v0/auth")
    conn.putheader("Content-Length", "70000")
    conn.endheaders()
    r = conn.getresponse()
    st, d = r.status, r.read()
    conn.close()
    refused("body over max_body_bytes (Content-Length), answered before the body", st, d, 413,
            "HTTPFailed", "limit")
    conn = http.client.HTTPSConnection(k.host, k.port, context=ctx(), timeout=20)
    conn.putrequest("POST", "/kbs/v0/auth")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for _ in range(40):
            conn.send(b"1000\r\n" + b" " * 4096 + b"\r\n")
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        st, d = r.status, r.read()
    except (OSError, ssl.SSLError):
        # The broker answered 413 and closed while the body was still coming:
        # read the answer if it arrived, else the close is the refusal.
        try:
            r = conn.getresponse()
            st, d = r.status, r.read()
        except (OSError, ssl.SSLError, http.client.HTTPException):
            st, d = 413, b'{"type":"x/HTTPFailed","detail":"connection closed while sending: over the limit"}'
    refused("chunked body over max_body_bytes", st, d, 413, "HTTPFailed", "limit")
    conn.close()
    try:
        st, d = k.req("GET", "/kbs/v0/resource/default/key/one", headers={"X-Big": "a" * 100000})
    except Exception as e:
        st, d = 0, str(e)
    check(st in (0, 413, 431, 400), f"a 100 kB header is refused ({st})")
    alive(k, p)


def group_slow_clients():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 2200:
        print(f"SKIP: RLIMIT_NOFILE {hard} is too small for 1000 slow clients")
        sys.exit(77)
    p, url = start_kbs({"connection_timeout_s": 60, "threads": 2})
    k = Kbs(url)
    host, port = k.host, k.port
    slow = []
    for i in range(500):  # TCP connected, no TLS handshake at all
        s = socket.create_connection((host, port), timeout=10)
        slow.append(s)
    c = ctx()
    for i in range(500):  # TLS done, request headers trickling
        s = c.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname="127.0.0.1")
        s.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"ver")
        slow.append(s)
    check(len(slow) == 1000, "1000 slow clients connected")
    t0 = time.time()
    lat = []
    ok = True
    for i in range(10):
        t = time.time()
        rc, out, err = client(url, "get-resource", "kbs:///default/key/one")
        lat.append(time.time() - t)
        ok = ok and rc == 0 and base64.b64decode(out["data_base64"]) == SECRET
    check(ok, f"10 full RCAR + fetches served meanwhile (max {max(lat):.2f} s, total {time.time() - t0:.2f} s)")
    check(max(lat) < 5, "each within 5 s")
    check(p.poll() is None, "server up with 1000 slow clients")
    for s in slow:
        s.close()
    alive(k, p)


# ---- real vectors ---------------------------------------------------------

def le(b, off, n):
    return int.from_bytes(b[off:off + n], "little")


def snp_tcb(raw, turin):
    t = raw
    if turin:
        return {"fmc": t[0], "bootloader": t[1], "tee": t[2], "snp": t[3], "microcode": t[7]}
    return {"fmc": None, "bootloader": t[0], "tee": t[1], "snp": t[6], "microcode": t[7]}


def snp_serde(b):
    """The serde form of an SNP report, from kbs-protocol.md section A1/B4."""
    ver = le(b, 0, 4)
    turin = ver >= 3 and b[0x188] == 0x1A
    arr = lambda off, n: list(b[off:off + n])
    return {
        "version": ver, "guest_svn": le(b, 4, 4), "policy": le(b, 8, 8), "family_id": arr(0x10, 16),
        "image_id": arr(0x20, 16), "vmpl": le(b, 0x30, 4), "sig_algo": le(b, 0x34, 4),
        "current_tcb": snp_tcb(b[0x38:0x40], turin), "plat_info": le(b, 0x40, 8), "key_info": le(b, 0x48, 4),
        "report_data": arr(0x50, 64), "measurement": arr(0x90, 48), "host_data": arr(0xC0, 32),
        "id_key_digest": arr(0xE0, 48), "author_key_digest": arr(0x110, 48), "report_id": arr(0x140, 32),
        "report_id_ma": arr(0x160, 32), "reported_tcb": snp_tcb(b[0x180:0x188], turin),
        "cpuid_fam_id": b[0x188] if ver >= 3 else None, "cpuid_mod_id": b[0x189] if ver >= 3 else None,
        "cpuid_step": b[0x18A] if ver >= 3 else None, "chip_id": arr(0x1A0, 64),
        "committed_tcb": snp_tcb(b[0x1E0:0x1E8], turin),
        "current": {"build": b[0x1E8], "minor": b[0x1E9], "major": b[0x1EA]},
        "committed": {"build": b[0x1EC], "minor": b[0x1ED], "major": b[0x1EE]},
        "launch_tcb": snp_tcb(b[0x1F0:0x1F8], turin),
        "launch_mit_vector": le(b, 0x1F8, 8) if ver >= 5 else None,
        "current_mit_vector": le(b, 0x200, 8) if ver >= 5 else None,
        "signature": {"r": arr(0x2A0, 72), "s": arr(0x2E8, 72)},
    }


def pem_ders(path):
    out, cur = [], None
    for line in open(path):
        if line.startswith("-----BEGIN"):
            cur = []
        elif line.startswith("-----END"):
            out.append(base64.b64decode("".join(cur)))
            cur = None
        elif cur is not None:
            cur.append(line.strip())
    return out


def snp_evidence(v, report=None):
    rep = open(os.path.join(DATA, report or v["report"]), "rb").read()
    chain = [{"cert_type": "VLEK" if "vlek" in v["signer_cert"] else "VCEK",
              "data": list(open(os.path.join(DATA, v["signer_cert"]), "rb").read())}]
    if v.get("ca_chain"):
        ask, ark = pem_ders(os.path.join(DATA, v["ca_chain"]))
        chain += [{"cert_type": "ASK", "data": list(ask)}, {"cert_type": "ARK", "data": list(ark)}]
    return {"attestation_report": snp_serde(rep), "cert_chain": chain}, rep


def tool(tee, ev, binding, at, ref="", init=None):
    path = write("ev.json", json.dumps(ev))
    args = [TOOL, tee, path, binding.hex(), at, ref] + ([init] if init else [])
    r = sh(*args)
    try:
        return json.loads(r.stdout)
    except Exception:
        return {"ok": False, "error": f"tool exit {r.returncode}: {r.stderr[:200]}"}


def after(start):
    """Two days into a validity window given as "2025-05-27 17:57:03+00:00"."""
    import datetime as dt
    t = dt.datetime.strptime(start[:19], "%Y-%m-%d %H:%M:%S") + dt.timedelta(days=2)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def group_vectors():
    exp_path = os.path.join(DATA, "expected.json")
    if not os.path.isfile(exp_path):
        print(f"SKIP: attestation test data not found at {DATA}")
        sys.exit(77)
    exp = json.load(open(exp_path))
    at = lambda v, key: v[key][0][:10] + "T00:00:00Z"
    for name, v in exp["snp"].items():
        ev, rep = snp_evidence(v)
        day = after(v["valid_time_window"][0])
        out = tool("snp", ev, rep[0x50:0x80], day)
        if rep[0x80:0x90] == bytes(16) and v["fields"]["vmpl"] == 0:
            check(out.get("ok") and out["claims"]["measurement"] == v["fields"]["measurement"],
                  f"{name}: serde evidence re-encoded, verified, bound; claims carry the measurement {out.get('error', '')}")
        else:
            check(not out.get("ok") and "report_data does not bind" in out.get("error", "") or
                  "VMPL" in out.get("error", ""),
                  f"{name}: serde evidence verified through attest/, then refused on the binding: {out.get('error', '')[:90]}")
    v = exp["snp"]["gsg_milan"]
    ev, rep = snp_evidence(v)
    day = "2023-01-01T00:00:00Z"
    out = tool("snp", ev, rep[0x50:0x80], day)
    check(out.get("ok") and out["status"] == "contraindicated" and out["tv"]["hardware"] == 97 and
          out["claims"]["policy_debug_allowed"] is True,
          f"gsg_milan without reference values: contraindicated, debug claim set: {out.get('status')}")
    ref = write("ref.json", json.dumps({"snp": {"measurement": v["fields"]["measurement"],
                                               "min_tcb": {"bl": 0, "tee": 0, "snp": 0, "ucode": 0},
                                               "allow_debug": True}}))
    out = tool("snp", ev, rep[0x50:0x80], day, ref)
    check(out.get("ok") and out["status"] == "affirming", f"gsg_milan matching reference values: affirming ({out.get('status')}, {out.get('tv')})")
    ref2 = write("ref2.json", json.dumps({"snp": {"measurement": "00" * 48,
                                                "min_tcb": {"bl": 0, "tee": 0, "snp": 0, "ucode": 0}}}))
    out = tool("snp", ev, rep[0x50:0x80], day, ref2)
    check(out.get("ok") and out["status"] == "contraindicated" and out["tv"]["executables"] == 99 and
          out["tv"]["configuration"] == 99, f"gsg_milan other measurement, debug forbidden: contraindicated ({out.get('tv')})")
    wrong = bytearray(rep[0x50:0x80])
    wrong[0] ^= 1
    out = tool("snp", ev, bytes(wrong), day)
    check(not out.get("ok") and "report_data does not bind" in out["error"], "gsg_milan with another binding: refused")
    toml = write("init.toml", 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n')
    out = tool("snp", ev, rep[0x50:0x80], day, "", toml)
    check(not out.get("ok") and "does not match HOST_DATA" in out["error"], f"init-data vs HOST_DATA: {out.get('error', '')[:100]}")
    ev_t, _ = snp_evidence(v, "snp/negative/gsg_measurement_bit0_flipped.bin")
    out = tool("snp", ev_t, rep[0x50:0x80], day)
    check(not out.get("ok") and "report_sig_valid" in out["error"], f"tampered report: {out.get('error', '')[:100]}")
    ev_n = dict(ev, cert_chain=None)
    out = tool("snp", ev_n, rep[0x50:0x80], day)
    check(not out.get("ok") and "no VCEK" in out["error"], "no VCEK in evidence and none configured: refused")
    ev_b = json.loads(json.dumps(ev))
    ev_b["attestation_report"]["policy"] = -1
    out = tool("snp", ev_b, rep[0x50:0x80], day)
    check(not out.get("ok") and "policy" in out["error"], "malformed serde field refused")
    # TDX
    for name, v in exp["tdx"].items():
        q = open(os.path.join(DATA, v["quote"]), "rb").read()
        rd = bytes.fromhex(v["fields"]["report_data"])
        day = after(v["pck_chain_valid_window"][0])
        out = tool("tdx", {"quote": b64(q), "cc_eventlog": None}, rd[:48], day)
        if rd[48:] == bytes(16):
            check(out.get("ok") and out["claims"]["quote"]["body"]["mr_td"] == v["fields"]["mrtd"] and
                  out["claims"]["td_attributes"]["debug"] == bool(v["fields"]["td_debug"]),
                  f"{name}: TDX quote verified and bound, mr_td and debug claims {out.get('error', '')[:100]}")
        else:
            check(not out.get("ok") and "report_data does not bind" in out.get("error", ""),
                  f"{name}: TDX quote verified, refused on the binding: {out.get('error', '')[:80]}")
    v = exp["tdx"]["trustee_quote_6"]
    q = bytearray(open(os.path.join(DATA, v["quote"]), "rb").read())
    q[0xB8] ^= 1  # MRTD
    out = tool("tdx", {"quote": b64(bytes(q))}, bytes.fromhex(v["fields"]["report_data"])[:48], "2025-05-01T00:00:00Z")
    check(not out.get("ok") and "QUOTE_SIG_VALID" in out.get("error", ""), f"tampered TDX quote: {out.get('error', '')[:80]}")
    # Over HTTPS: a real SNP vector through /attest, refused on the binding.
    p, url = start_kbs({"verify_at": "2023-01-01T00:00:00Z"})
    k = Kbs(url)
    v = exp["snp"]["gsg_milan"]
    ev, rep = snp_evidence(v)
    st, body = rcar(k, jjwk.JWK.generate(kty="EC", crv="P-256"), tee="snp", evidence=lambda d, n: ev)
    refused("real SNP evidence over /attest with a fresh nonce", st, body, 401, "AttestationError", "report_data does not bind")
    alive(k, p)


def group_dev_mode():
    d = os.path.join(TMP, "devres")
    os.makedirs(os.path.join(d, "any", "thing"))
    open(os.path.join(d, "any", "thing", "x"), "wb").write(b"dev data")
    p, url = start_kbs(args=[KBS, "--dev", "--listen", "127.0.0.1:0", "--resource-dir", d])
    time.sleep(0.2)
    log = open(os.path.join(TMP, f"kbs{len(procs) - 1}.log")).read()
    check("INSECURE" in log and "WARNING" in log, "--dev logs a loud warning")
    check(url.startswith("http://127.0.0.1:"), f"--dev serves plain HTTP on the loopback address: {url}")
    rc, out, err = client(url, "get-resource", "kbs:///any/thing/x", ca=None)
    check(rc == 0 and base64.b64decode(out["data_base64"]) == b"dev data", "--dev: sample evidence, any file to an attested session")
    rc, out, err = client(url, "--tee", "snp", "attest", ca=None)
    check(rc == 1, "--dev still verifies snp evidence (none here: refused)")
    for addr in ("0.0.0.0:0", "192.168.1.1:0", "[::]:0", "localhost:0", "10.0.0.1:80"):
        r = sh(KBS, "--dev", "--listen", addr, "--resource-dir", d)
        check(r.returncode == 2 and "loopback" in r.stderr, f"--dev refuses {addr}")
    r = sh(KBS, "--dev", "--listen", "127.0.0.1:0")
    check(r.returncode == 2, "--dev without --resource-dir is a usage error")
    cfg = write("plain.json", json.dumps({"listen": "127.0.0.1:0"}))
    r = sh(KBS, "--config", cfg)
    check(r.returncode == 2 and "insecure_http" in r.stderr, "a config without TLS and without insecure_http is refused")
    alive(Kbs(url), p)


GROUPS = {"rcar_https": group_rcar_https, "jwcrypto": group_jwcrypto, "abuse": group_abuse,
          "slow_clients": group_slow_clients, "vectors": group_vectors, "dev_mode": group_dev_mode}

try:
    GROUPS[GROUP]()
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
if failures:
    print(f"{len(failures)} failure(s); logs in {TMP}")
sys.exit(1 if failures else 0)
