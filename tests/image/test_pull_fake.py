#!/usr/bin/env python3
"""The registry client (agent/image/registry.c, pull.c) against a registry
that lies: a small python http.server on 127.0.0.1 stands in for a hostile
registry (docker-registry never lies; test_pull_registry.sh pulls from the
real one). Each repository name picks a behaviour:

  good       index → linux/amd64 manifest → config, two layers (gzip, zstd),
             one blob behind a legitimate redirect
  auth       bearer token flow: 401 + challenge → token endpoint → retry
  badauth    a challenge that does not parse
  wrongdigest, truncated, short, oversize   blobs that are not what the manifest says
  loop       a redirect loop; hops: a redirect chain longer than the limit
  bigmanifest  a manifest over the size limit; slow: a blob that never arrives in time
  enc        a layer with an +encrypted media type and enc annotations

    test_pull_fake.py IMAGE_TOOL"""
import base64
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layers import gz, sha, tar, zst  # noqa

TOOL = sys.argv[1]
failures = []


def sanitizer_clean(stderr):
    """under ASan/UBSan an error also exits 1: a report is a failure of its own"""
    if "Sanitizer" in stderr or "runtime error:" in stderr:
        print(stderr, file=sys.stderr)
        failures.append("sanitizer report")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


BLOBS = {}


def blob(data, mt, **extra):
    d = sha(data)
    BLOBS[d] = data
    return dict({"mediaType": mt, "digest": d, "size": len(data)}, **extra)


def image(layers_spec, index=True):
    """layers_spec: [(tar bytes, media type, compressed bytes, annotations)] → (top manifest bytes, its media type)."""
    layers, diffs = [], []
    for plain, mt, data, ann in layers_spec:
        layers.append(blob(data, mt, **({"annotations": ann} if ann else {})))
        diffs.append(sha(plain))
    cfg = blob(json.dumps({"architecture": "amd64", "os": "linux",
                           "config": {"Env": ["PATH=/bin", "A=b"], "Entrypoint": ["/bin/app"],
                                      "Cmd": ["--flag"], "WorkingDir": "/work", "User": "1000:1000"},
                           "rootfs": {"type": "layers", "diff_ids": diffs}}).encode(),
               "application/vnd.oci.image.config.v1+json")
    m = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": layers}).encode()
    md = blob(m, OCI_MANIFEST)
    if not index:
        return m, OCI_MANIFEST
    other = blob(b'{"schemaVersion":2}', OCI_MANIFEST)
    idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        dict(other, platform={"os": "linux", "architecture": "arm64"}),
        dict(md, platform={"os": "linux", "architecture": "amd64"})]}).encode()
    blob(idx, OCI_INDEX)
    return idx, OCI_INDEX


base_tar = tar([("bin", 0o755, None), ("bin/app", 0o755, b"app-bytes\n" * 100),
                ("etc", 0o755, None), ("etc/motd", 0o644, b"old\n")])
top_tar = tar([("etc/.wh.motd", 0o644, b""), ("etc/new", 0o644, b"zstd layer\n")])
GOOD = image([(base_tar, LAYER + "+gzip", gz(base_tar), None),
              (top_tar, LAYER + "+zstd", zst(top_tar), {"org.example.layer": "top"})])
PLAIN = image([(base_tar, LAYER, base_tar, None)], index=False)
victim_tar = tar([("victim", 0o644, b"v" * 5000)])
VICTIM = image([(victim_tar, LAYER + "+gzip", gz(victim_tar), None)], index=False)
VICTIM_LAYER = json.loads(VICTIM[0])["layers"][0]["digest"]
enc_tar = tar([("secret", 0o600, b"marker-plaintext\n")])
ENC = image([(enc_tar, LAYER + "+gzip+encrypted", bytes((b + 128) & 255 for b in gz(enc_tar)),
              {"org.opencontainers.image.enc.keys.jwe": "d3JhcHBlZA==",
               "org.opencontainers.image.enc.pubopts": "e30="})], index=False)
TOKEN = "tok-" + base64.b16encode(os.urandom(8)).decode()
seen_auth = []
storage_auth = []
TOKEN2 = "cred-" + TOKEN


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path
        if p.startswith("/token"):
            ok = "scope=repository%3Aauth%2Fimg%3Apull" in p and "service=fake" in p
            return self.send(200 if ok else 403, json.dumps({"token": TOKEN}).encode())
        if p.startswith("/loop/"):
            return self.send(302, headers=[("Location", "/loop2" + p[5:])])
        if p.startswith("/loop2/"):
            return self.send(302, headers=[("Location", "/loop" + p[6:])])
        if p.startswith("/hop/"):
            n = int(p.split("/")[2])
            return self.send(302, headers=[("Location", f"/hop/{n + 1}/x")])
        if p.startswith("/storage/"):
            storage_auth.append(self.headers.get("Authorization"))
            return self.send(200, BLOBS[p[len("/storage/"):]])
        if p.startswith("/credtoken"):
            ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"user:pw").decode()
            return self.send(200 if ok else 401, json.dumps({"access_token": TOKEN2}).encode())
        parts = p.split("/")  # /v2/<repo>/img/<kind>/<ref>
        if len(parts) != 6 or parts[1] != "v2" or parts[3] != "img":
            return self.send(404)
        repo, kind, ref = parts[2], parts[4], parts[5]
        if repo == "auth":
            seen_auth.append(self.headers.get("Authorization"))
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                return self.send(401, b'{"errors":[]}', [("WWW-Authenticate",
                    f'Bearer realm="http://127.0.0.1:{PORT}/token",service="fake",scope="repository:auth/img:pull"')])
        if repo == "authcred" and self.headers.get("Authorization") != "Bearer " + TOKEN2:
            return self.send(401, b"", [("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{PORT}/credtoken"')])
        if repo in ("auth", "authcred") and kind == "blobs" and ref == json.loads(GOOD_MANIFEST)["layers"][1]["digest"]:
            # blob storage on another host name: the token must not follow
            return self.send(307, headers=[("Location", f"http://localhost:{PORT}/storage/{ref}")])
        if repo == "badauth":
            return self.send(401, b"", [("WWW-Authenticate", 'Bearer realm="http://x",,service=')])
        if repo == "loop" and kind == "manifests":
            return self.send(302, headers=[("Location", f"http://127.0.0.1:{PORT}/loop/x")])
        if repo == "hops" and kind == "manifests":
            return self.send(302, headers=[("Location", "/hop/0/x")])
        if kind == "manifests":
            if repo == "bigmanifest":
                return self.send(200, b" " * (2 << 20), [("Content-Type", OCI_MANIFEST)])
            top, mt = {"plain": PLAIN, "enc": ENC, "wrongdigest": VICTIM, "truncated": VICTIM,
                       "short": VICTIM, "oversize": VICTIM, "slow": VICTIM}.get(repo, GOOD)
            if ref.startswith("sha256:"):
                if repo == "tampered":
                    return self.send(200, BLOBS[ref] + b" ", [("Content-Type", mt)])
                if ref not in BLOBS:
                    return self.send(404)
                body = BLOBS[ref]
                return self.send(200, body, [("Content-Type", json.loads(body).get("mediaType", mt))])
            return self.send(200, top, [("Content-Type", mt)])
        if kind != "blobs" or ref not in BLOBS:
            return self.send(404)
        data = BLOBS[ref]
        if ref == VICTIM_LAYER:
            if repo == "wrongdigest":
                return self.send(200, bytes(len(data)))
            if repo == "short":
                return self.send(200, data[:100])
            if repo == "oversize":
                return self.send(200, data + b"extra" * 1000)
            if repo == "truncated":  # announces it all, sends half, hangs up
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if repo == "slow":
                time.sleep(3)
        if repo == "good" and ref == json.loads(GOOD_MANIFEST)["layers"][0]["digest"]:
            return self.send(307, headers=[("Location", f"/storage/{ref}")])
        return self.send(200, data)


GOOD_MANIFEST = BLOBS[[m for m in json.loads(GOOD[0])["manifests"]
                       if m["platform"]["architecture"] == "amd64"][0]["digest"]]
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
srv.handle_error = lambda *a: None  # clients hanging up on lies are expected
PORT = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
REG = f"127.0.0.1:{PORT}"


DIRS = []


def tmpdir():
    DIRS.append(tempfile.mkdtemp(prefix="coffer-pull-"))
    return DIRS[-1]


def pull(repo, *opts, ref=None):
    d = tmpdir()
    r = subprocess.run([TOOL, "pull", "--insecure", *opts, ref or f"{REG}/{repo}/img:v1", d],
                       capture_output=True, text=True, timeout=60)
    sanitizer_clean(r.stderr)
    return r.returncode, r.stdout + r.stderr, d


def files(d):
    return sorted(os.path.relpath(os.path.join(p, n), d) for p, ds, fs in os.walk(d) for n in ds + fs)


idx_digest = sha(GOOD[0])
man_digest = sha(GOOD_MANIFEST)
rc, out, d = pull("good")
check(rc == 0, f"index → linux/amd64 manifest → gzip + zstd layers ({out.strip()[-300:]})")
if rc == 0:
    check(f"manifest {idx_digest}" in out and f"platform_manifest {man_digest}" in out,
          "the result names the index and the platform manifest digests")
    check("env PATH=/bin\nenv A=b\nentrypoint /bin/app\ncmd --flag\nworkdir /work\nuser 1000:1000" in out,
          "the config's process defaults are in the result")
    check("org.example.layer=top" in out and "tar+zstd 125 unpacked-as application/vnd.oci.image.layer.v1.tar+zstd" in out, "layer media types and annotations as seen")
    check(files(d) == ["bin", "bin/app", "etc", "etc/new"] and
          open(os.path.join(d, "bin/app"), "rb").read() == b"app-bytes\n" * 100,
          f"layers unpacked in order, whiteout applied ({files(d)})")
shutil.rmtree(d)

rc, out, d = pull("good", ref=f"{REG}/good/img@{idx_digest}")
check(rc == 0 and os.path.exists(os.path.join(d, "etc/new")), "pull by index digest")
rc, out, d = pull("good", "--pin", man_digest)
check(rc == 0, "a pin naming the platform manifest is accepted")
rc, out, d = pull("good", "--pin", idx_digest)
check(rc == 0, "a pin naming the index is accepted")
rc, out, d = pull("good", "--pin", sha(b"something else"))
check(rc == 1 and "pinned digest" in out and idx_digest in out, f"a tag resolving to another digest than the pin is refused ({out.strip()})")
rc, out, d = pull("tampered", ref=f"{REG}/tampered/img@{idx_digest}")
check(rc == 1 and f"manifest {idx_digest}: content has digest" in out, f"a manifest not matching its digest is refused ({out.strip()})")
rc, out, d = pull("plain")
check(rc == 0 and "tar 10240 unpacked-as application/vnd.oci.image.layer.v1.tar diff_id " + sha(base_tar) in out,
      f"a plain (uncompressed tar) single manifest without index ({out.strip()[-200:]})")

seen_auth.clear()
storage_auth.clear()
rc, out, d = pull("auth")
check(rc == 0 and seen_auth[0] is None and seen_auth[-1] == "Bearer " + TOKEN,
      f"bearer flow: 401 → token → retried with the token ({out.strip()[-200:]})")
check(storage_auth == [None], f"the token is not sent to a redirect's other host ({storage_auth})")
rc, out, d = pull("authcred", "--credentials", "user:pw")
check(rc == 0, f"credentials go to the token endpoint as Basic; access_token accepted ({out.strip()[-160:]})")
rc, out, d = pull("authcred", "--credentials", "user:wrong")
check(rc == 1 and "token endpoint" in out and "401" in out, f"a refused token request is an error ({out.strip()})")
rc, out, d = pull("badauth")
check(rc == 1 and "unusable auth challenge" in out, f"a malformed challenge is refused ({out.strip()})")

for repo, want in (("wrongdigest", "content has digest"), ("short", "truncated: 100 of"),
                   ("truncated", VICTIM_LAYER), ("oversize", "more bytes than the descriptor")):
    rc, out, d = pull(repo)
    check(rc == 1 and want in out and VICTIM_LAYER in out and REG in out and not os.listdir(d),
          f"{repo} blob refused, naming digest and registry, nothing unpacked ({out.strip()})")
rc, out, d = pull("loop")
check(rc == 1 and "redirect loop" in out and REG in out, f"redirect loop ({out.strip()})")
rc, out, d = pull("hops")
check(rc == 1 and "more than 5 redirects" in out, f"too many redirects ({out.strip()})")
rc, out, d = pull("bigmanifest", "--max-manifest", str(1 << 20))
check(rc == 1 and "size limit" in out, f"oversized manifest ({out.strip()})")
t0 = time.time()
rc, out, d = pull("slow", "--time-limit-ms", "1000")
check(rc == 1 and "time limit" in out and time.time() - t0 < 2.5, f"time limit ({out.strip()})")
rc, out, d = pull("good", "--max-blob", "100")
check(rc == 1 and "exceed the 100-byte limit" in out, f"per-blob limit ({out.strip()})")
rc, out, d = pull("good", "--max-total", "1000")
check(rc == 1 and "total size limit" in out, f"total limit ({out.strip()})")

rc, out, d = pull("enc")
check(rc == 1 and "encrypted" in out and "nothing decrypted it" in out and not os.listdir(d),
      f"an encrypted layer without a hook is refused ({out.strip()})")
rc, out, d = pull("enc", "--hook-flip")
check(rc == 0 and open(os.path.join(d, "secret")).read() == "marker-plaintext\n"
      and "org.opencontainers.image.enc.keys.jwe=d3JhcHBlZA==" in out
      and "+gzip+encrypted" in out and "unpacked-as application/vnd.oci.image.layer.v1.tar+gzip " in out,
      f"the hook sees the descriptor and its output is unpacked, checked against diff_id ({out.strip()[-400:]})")
r = subprocess.run([TOOL, "pull", f"{REG}/good/img:v1", tmpdir()], capture_output=True, text=True)
check(r.returncode == 1 and "GET https://" in r.stderr,
      f"without --insecure the registry is spoken to over https only ({r.stderr.strip()})")
r = subprocess.run([TOOL, "pull", "--insecure", "example.com/x:1", tmpdir()], capture_output=True, text=True)
check(r.returncode == 1 and "loopback" in r.stderr, f"insecure http to a non-loopback registry is refused ({r.stderr.strip()})")
r = subprocess.run([TOOL, "pull", "--insecure", "UPPER/x::1", tmpdir()], capture_output=True, text=True)
check(r.returncode == 1 and "image reference" in r.stderr, f"a bad reference is refused ({r.stderr.strip()})")

# HTTPS: a CA given as a file or as PEM text (init-data) is trusted, the
# system CAs do not know this one
tls = tempfile.mkdtemp(prefix="coffer-tls-")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=coffer-test-ca",
                "-keyout", f"{tls}/ca.key", "-out", f"{tls}/ca.pem"], check=True, capture_output=True)
subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                "-keyout", f"{tls}/srv.key", "-out", f"{tls}/srv.csr"], check=True, capture_output=True)
with open(f"{tls}/ext", "w") as f:
    f.write("subjectAltName=IP:127.0.0.1\n")
subprocess.run(["openssl", "x509", "-req", "-in", f"{tls}/srv.csr", "-CA", f"{tls}/ca.pem", "-CAkey", f"{tls}/ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{tls}/ext", "-out", f"{tls}/srv.pem"],
               check=True, capture_output=True)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{tls}/srv.pem", f"{tls}/srv.key")
tsrv = ThreadingHTTPServer(("127.0.0.1", 0), H)
tsrv.daemon_threads = True
tsrv.handle_error = lambda *a: None
tsrv.socket = ctx.wrap_socket(tsrv.socket, server_side=True)
threading.Thread(target=tsrv.serve_forever, daemon=True).start()
TREG = f"127.0.0.1:{tsrv.server_address[1]}"


def tpull(*opts):
    d = tmpdir()
    r = subprocess.run([TOOL, "pull", *opts, f"{TREG}/plain/img:v1", d], capture_output=True, text=True, timeout=60)
    sanitizer_clean(r.stderr)
    return r.returncode, r.stdout + r.stderr, d


rc, out, d = tpull("--ca", f"{tls}/ca.pem")
check(rc == 0 and os.path.exists(os.path.join(d, "bin/app")), f"https with a CA file ({out.strip()[-160:]})")
rc, out, d = tpull("--ca-pem", f"{tls}/ca.pem")
check(rc == 0 and os.path.exists(os.path.join(d, "bin/app")), f"https with a CA as PEM text ({out.strip()[-160:]})")
rc, out, d = tpull()
check(rc == 1 and "https://" in out and ("certificate" in out.lower() or "SSL" in out),
      f"https with the system CAs refuses the unknown CA ({out.strip()})")
tsrv.shutdown()
shutil.rmtree(tls)

srv.shutdown()
for d in DIRS:
    shutil.rmtree(d, ignore_errors=True)
if failures:
    print(f"{len(failures)} FAILED", file=sys.stderr)
    sys.exit(1)
print("all passed")
