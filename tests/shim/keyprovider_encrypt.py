#!/usr/bin/env python3
"""Encrypts every layer of an OCI layout the way Confidential Containers'
attestation-agent keyprovider does (test-only writer; the reader under test
is agent/ocicrypt): AES-256-CTR with HMAC-SHA256 over the ciphertext, the
private options sealed with AES-256-GCM under a 32-byte key-encryption key
that a broker holds as the resource KID.

    keyprovider_encrypt.py IN_LAYOUT OUT_LAYOUT KEK_FILE KID

IN_LAYOUT's first manifest (ref "img") becomes OUT_LAYOUT's (ref "img")."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "critest"))
from images import Layout  # noqa: E402

B64 = lambda b: base64.b64encode(b).decode()  # noqa: E731


def blob(root, digest):
    with open(os.path.join(root, "blobs", "sha256", digest.split(":")[1]), "rb") as f:
        return f.read()


def main():
    src, dst, kek_file, kid = sys.argv[1:]
    with open(kek_file, "rb") as f:
        kek = f.read()
    shutil.rmtree(dst, ignore_errors=True)
    out = Layout(dst)
    with open(os.path.join(src, "index.json")) as f:
        desc = json.load(f)["manifests"][0]
    manifest = json.loads(blob(src, desc["digest"]))
    cfg = manifest["config"]
    out.blob(blob(src, cfg["digest"]), cfg["mediaType"])
    layers = []
    for layer in manifest["layers"]:
        plain = blob(src, layer["digest"])
        key, nonce = os.urandom(32), os.urandom(16)
        enc = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
        ct = enc.update(plain) + enc.finalize()
        mac = hmac.new(key, ct, hashlib.sha256).digest()
        priv = json.dumps({"symkey": B64(key), "digest": layer["digest"],
                           "cipheroptions": {"nonce": B64(nonce)}}).encode()
        iv = os.urandom(12)
        packet = {"kid": kid, "wrapped_data": B64(AESGCM(kek).encrypt(iv, priv, None)),
                  "iv": B64(iv), "wrap_type": "A256GCM"}
        pub = {"cipher": "AES_256_CTR_HMAC_SHA256", "hmac": B64(mac), "cipheroptions": {}}
        d = out.blob(ct, layer["mediaType"] + "+encrypted")
        d["annotations"] = {
            "org.opencontainers.image.enc.keys.provider.attestation-agent": B64(json.dumps(packet).encode()),
            "org.opencontainers.image.enc.pubopts": B64(json.dumps(pub).encode())}
        layers.append(d)
    manifest["layers"] = layers
    m = out.blob(json.dumps(manifest).encode(), desc["mediaType"])
    m["annotations"] = {"org.opencontainers.image.ref.name": "img"}
    out.manifests.append(m)
    out.finish()


if __name__ == "__main__":
    main()
