#!/usr/bin/env python3
"""A small stand-in for the Kubernetes API server (a mock: no cluster runs
here), serving only what coffer-deploy calls, over HTTPS on 127.0.0.1.

  mock_apiserver.py CERT KEY STATE_JSON PORT_FILE LOG

STATE_JSON (re-read on every request, so a test can change it):
  {"token": "...", "node": {"name": "n1", "labels": {...},
   "runtime": "containerd://1.7.2"},
   "daemonset": null | {"namespace": "ns", "name": "ds", "nodeSelector": {...},
                        "deleting": false},
   "pods": 0, "rbac": ["clusterrolebindings/x", ...]}
Node label patches (merge-patch, null removes) are written back to STATE_JSON.
Every request is appended to LOG as one JSON line {method, path, body}.
Requests without the expected bearer token get 401."""
import http.server
import json
import re
import ssl
import sys

CERT, KEY, STATE, PORT_FILE, LOG = sys.argv[1:6]


def load():
    with open(STATE) as f:
        return json.load(f)


def save(st):
    with open(STATE + ".tmp", "w") as f:
        json.dump(st, f)
    import os
    os.replace(STATE + ".tmp", STATE)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        with open(LOG, "a") as f:
            f.write(json.dumps({"method": method, "path": self.path, "body": body,
                                "content_type": self.headers.get("Content-Type")}) + "\n")
        st = load()
        if self.headers.get("Authorization") != "Bearer " + st["token"]:
            return self.reply(401, {"kind": "Status", "code": 401})
        node = st["node"]
        if self.path == "/api/v1/nodes/" + node["name"]:
            if method == "PATCH":
                if self.headers.get("Content-Type") != "application/merge-patch+json":
                    return self.reply(415, {"kind": "Status", "code": 415})
                patch = json.loads(body).get("metadata", {}).get("labels", {})
                for k, v in patch.items():
                    if v is None:
                        node["labels"].pop(k, None)
                    else:
                        node["labels"][k] = v
                save(st)
            if method in ("GET", "PATCH"):
                return self.reply(200, {"kind": "Node", "metadata": {
                    "name": node["name"], "labels": node["labels"]},
                    "status": {"nodeInfo": {"containerRuntimeVersion": node["runtime"]}}})
        ds = st.get("daemonset")
        m = re.fullmatch(r"/apis/apps/v1/namespaces/([^/]+)/daemonsets/([^/]+)", self.path)
        if m and method == "GET":
            if not ds or (ds["namespace"], ds["name"]) != m.groups():
                return self.reply(404, {"kind": "Status", "code": 404})
            meta = {"name": ds["name"], "namespace": ds["namespace"]}
            if ds.get("deleting"):
                meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            return self.reply(200, {"kind": "DaemonSet", "metadata": meta, "spec": {"template": {
                "spec": {"nodeSelector": ds.get("nodeSelector") or {}}}}})
        if re.fullmatch(r"/api/v1/namespaces/[^/]+/pods\?labelSelector=.+", self.path) and method == "GET":
            pods = st.get("pods", 0)
            if pods:
                st["pods"] = pods - 1  # one pod finishes per poll
                save(st)
            return self.reply(200, {"kind": "PodList", "items": [{}] * pods})
        if method == "DELETE":
            rel = self.path.split("/", 3)[-1]
            for r in st.get("rbac", []):
                if self.path.endswith("/" + r):
                    st["rbac"].remove(r)
                    save(st)
                    return self.reply(200, {"kind": "Status", "status": "Success"})
            return self.reply(404, {"kind": "Status", "code": 404, "rel": rel})
        return self.reply(404, {"kind": "Status", "code": 404})

    def do_GET(self):
        self.handle_any("GET")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.replace(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
