#!/usr/bin/python3
"""Writes the seed corpus of fuzz_ocicrypt (tests/agent/fuzz/corpus/fuzz_ocicrypt):
a one-file image layer encrypted by skopeo (--encryption-key jwe:) to the
fuzz target's fixed RSA and EC keys, and a keyprovider layer made here with
python3-cryptography (AES-256-CTR + HMAC-SHA256, options sealed with
AES-256-GCM under the KEK the fuzz broker returns). Run it again only when the
fuzz keys change; the seeds are committed.

    make_fuzz_seeds.py FUZZ_SOURCE OUTDIR
"""
import base64, gzip, hashlib, io, json, os, re, subprocess, sys, tarfile, tempfile
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

src, out = sys.argv[1], sys.argv[2]
text = open(src).read()
pems = ["\n".join(re.findall(r'"([^"]*)\\n"', m)) + "\n"
        for m in re.findall(r'static const char \w+_key\[\] =\n(.*?);', text, re.S)]
os.makedirs(out, exist_ok=True)
b64 = lambda b: base64.b64encode(b).decode()


def seed(name, data):
    open(os.path.join(out, name), "wb").write(data)


def layout(root):
    os.makedirs(root + "/blobs/sha256")
    def blob(data, mt):
        d = hashlib.sha256(data).hexdigest()
        open(f"{root}/blobs/sha256/{d}", "wb").write(data)
        return {"mediaType": mt, "digest": "sha256:" + d, "size": len(data)}
    tb = io.BytesIO()
    with tarfile.open(fileobj=tb, mode="w") as t:
        info = tarfile.TarInfo("fuzz-marker")
        info.size = 5
        t.addfile(info, io.BytesIO(b"fuzz\n"))
    layer = gzip.compress(tb.getvalue(), mtime=0)
    cfg = {"architecture": "amd64", "os": "linux",
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tb.getvalue()).hexdigest()]}}
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": blob(json.dumps(cfg).encode(), "application/vnd.oci.image.config.v1+json"),
         "layers": [blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip")]}
    md = blob(json.dumps(m).encode(), "application/vnd.oci.image.manifest.v1+json")
    md["annotations"] = {"org.opencontainers.image.ref.name": "x"}
    json.dump({"schemaVersion": 2, "manifests": [md]}, open(root + "/index.json", "w"))
    open(root + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')


with tempfile.TemporaryDirectory() as w:
    layout(w + "/plain")
    pubs = []
    for i, pem in enumerate(pems):
        k = serialization.load_pem_private_key(pem.encode(), None)
        p = f"{w}/k{i}.pub"
        open(p, "wb").write(k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        pubs.append(p)
    for name, keys in (("ec", pubs[:1]), ("rsa", pubs[1:]), ("both", pubs)):
        args = sum((["--encryption-key", "jwe:" + p] for p in keys), [])
        subprocess.run(["skopeo", "copy", "-q", *args, f"oci:{w}/plain:x", f"oci:{w}/{name}:x"],
                       check=True)
        idx = json.load(open(f"{w}/{name}/index.json"))
        md = idx["manifests"][0]["digest"][7:]
        lay = json.load(open(f"{w}/{name}/blobs/sha256/{md}"))["layers"][0]
        a = lay["annotations"]
        ct = open(f"{w}/{name}/blobs/sha256/{lay['digest'][7:]}", "rb").read()
        seed(f"skopeo-{name}", b"\x02" + a["org.opencontainers.image.enc.keys.jwe"].encode() + b"\n"
             + a["org.opencontainers.image.enc.pubopts"].encode() + b"\n\n" + ct)
        if name == "ec":
            seed("pubopts", b"\x00" + a["org.opencontainers.image.enc.pubopts"].encode())

# The keyprovider layer.
key, nonce, kek = os.urandom(32), os.urandom(16), bytes(range(1, 33))
plain = b"coffer fuzz keyprovider layer\n" * 20
enc = Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor()
ct = enc.update(plain) + enc.finalize()
h = hmac.HMAC(key, hashes.SHA256())
h.update(ct)
opts = json.dumps({"symkey": b64(key), "digest": "sha256:" + hashlib.sha256(plain).hexdigest(),
                   "cipheroptions": {"nonce": b64(nonce)}}).encode()
seed("privopts", b"\x01" + opts)
iv = os.urandom(12)
packet = json.dumps({"kid": "kbs:///default/image-kek/fuzz", "wrapped_data": b64(AESGCM(kek).encrypt(iv, opts, None)),
                     "iv": b64(iv), "wrap_type": "A256GCM"}).encode()
pub = json.dumps({"cipher": "AES_256_CTR_HMAC_SHA256", "hmac": b64(h.finalize()), "cipheroptions": {}}).encode()
seed("keyprovider", b"\x02\n" + b64(pub).encode() + b"\n" + b64(packet).encode() + b"\n" + ct)
