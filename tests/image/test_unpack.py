#!/usr/bin/env python3
"""Layer unpack (agent/image/unpack.c, tar.c, decompress.c) through image_tool:
good layers (pax, GNU long names, links, gzip/zstd/plain, whiteouts) unpack
exactly; hostile layers are refused with an error naming the layer and
entry, and nothing appears or changes outside the destination.

    test_unpack.py IMAGE_TOOL"""
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from layers import END, gz, header, pad, pax_entry, pax_record, raw_entry, sha, tar, zst  # noqa

TOOL = sys.argv[1]
TAR = "application/vnd.oci.image.layer.v1.tar"
failures = []


def sanitizer_clean(stderr):
    """under ASan/UBSan an error also exits 1: a report is a failure of its own"""
    if "Sanitizer" in stderr or "runtime error:" in stderr:
        print(stderr, file=sys.stderr)
        failures.append("sanitizer report")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


class Env:
    """T/root is the destination; T/outside holds a file that must not change."""
    def __init__(self):
        self.t = tempfile.mkdtemp(prefix="coffer-unpack-")
        self.root = os.path.join(self.t, "root")
        self.outside = os.path.join(self.t, "outside")
        os.mkdir(self.root)
        os.mkdir(self.outside)
        with open(os.path.join(self.outside, "victim"), "w") as f:
            f.write("untouched\n")

    def unpack(self, data, mt=TAR, diff_id=None, env=None):
        p = os.path.join(self.t, "layer")
        with open(p, "wb") as f:
            f.write(data)
        args = [TOOL, "unpack", p, mt, self.root] + ([diff_id] if diff_id else [])
        r = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, **(env or {})))
        sanitizer_clean(r.stderr)
        return r.returncode, r.stdout + r.stderr

    def outside_intact(self):
        names = sorted(os.listdir(self.t))
        victim = open(os.path.join(self.outside, "victim")).read()
        return names == ["layer", "outside", "root"] and os.listdir(self.outside) == ["victim"] \
            and victim == "untouched\n"

    def path(self, rel):
        return os.path.join(self.root, rel)

    def done(self):
        shutil.rmtree(self.t)


def good_layers():
    long_dir = "d" * 60 + "/" + "e" * 70
    entries = [
        ("bin", 0o755, None),
        ("bin/tool", 0o4755, b"#!/bin/sh\necho hi\n"),
        ("bin/alias", 0o777, ("sym", "tool")),
        ("bin/hard", 0o755, ("link", "bin/tool")),
        ("etc/nested/deep.conf", 0o600, b"x=1\n"),  # parents not in the archive
        (long_dir + "/long-name-file", 0o644, b"long\n"),
        ("abs-link", 0o777, ("sym", "/etc/passwd")),
        ("fifo", 0o644, ("fifo",)),
    ]
    for fmt, fmt_name in ((tarfile.PAX_FORMAT, "pax"), (tarfile.GNU_FORMAT, "gnu")):
        plain = tar(entries, fmt)
        for data, mt, comp in ((plain, TAR, "tar"), (gz(plain), TAR + "+gzip", "gzip"),
                               (zst(plain), TAR + "+zstd", "zstd")):
            e = Env()
            rc, out = e.unpack(data, mt, diff_id=sha(plain))
            what = f"{fmt_name} {comp} layer"
            check(rc == 0 and sha(plain) in out, f"{what} unpacks, diff_id checked ({out.strip()[:200]})")
            if rc == 0:
                st = os.stat(e.path("bin/tool"))
                check(open(e.path("bin/tool"), "rb").read() == b"#!/bin/sh\necho hi\n"
                      and stat.S_IMODE(st.st_mode) == 0o4755, f"{what}: file content and mode (setuid kept)")
                check(os.readlink(e.path("bin/alias")) == "tool", f"{what}: symlink")
                check(os.stat(e.path("bin/hard")).st_ino == st.st_ino, f"{what}: hard link")
                check(os.path.exists(e.path(long_dir + "/long-name-file")), f"{what}: long name")
                check(int(os.lstat(e.path("bin/tool")).st_mtime) == 1000000000, f"{what}: mtime")
                check(os.readlink(e.path("abs-link")) == "/etc/passwd", f"{what}: absolute symlink kept verbatim")
                check(not os.path.lexists(e.path("fifo")), f"{what}: FIFO skipped")
                check(stat.S_IMODE(os.stat(e.path("etc/nested/deep.conf")).st_mode) == 0o600,
                      f"{what}: missing parents created")
            e.done()
    e = Env()
    plain = tar([("f", 0o644, b"data\n")])
    rc, out = e.unpack(gz(plain), TAR + "+gzip", diff_id=sha(b"other"))
    check(rc != 0 and "uncompressed digest" in out and "test-layer" in out,
          f"a layer whose tar stream is not its diff_id is refused ({out.strip()})")
    e.done()


def owners():
    if os.geteuid() != 0:
        print("skip owners: not root")
        return
    e = Env()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, uid, gid, typ in (("f", 1234, 5678, tarfile.REGTYPE), ("big-ids", 3000000, 3000001, tarfile.REGTYPE),
                                    ("l", 42, 43, tarfile.SYMTYPE)):
            i = tarfile.TarInfo(name)
            i.uid, i.gid, i.type, i.mode = uid, gid, typ, 0o2755
            if typ == tarfile.SYMTYPE:
                i.linkname = "f"
            t.addfile(i, io.BytesIO(b""))
    rc, out = e.unpack(raw.getvalue(), env={"KEEP_OWNERS": "1"})
    st, big, ln = os.lstat(e.path("f")), os.lstat(e.path("big-ids")), os.lstat(e.path("l"))
    check(rc == 0 and (st.st_uid, st.st_gid) == (1234, 5678) and (big.st_uid, big.st_gid) == (3000000, 3000001)
          and (ln.st_uid, ln.st_gid) == (42, 43) and stat.S_IMODE(st.st_mode) == 0o2755,
          f"keep_owners: uid/gid (pax ids past octal) on files and symlinks, set-gid kept ({out.strip()[:120]})")
    e.done()


def whiteouts():
    e = Env()
    rc1, _ = e.unpack(tar([("a", 0o755, None), ("a/x", 0o644, b"x"), ("a/y", 0o644, b"y"),
                           ("b", 0o755, None), ("b/old", 0o644, b"o"), ("b/sub", 0o755, None),
                           ("b/sub/f", 0o644, b"f"), ("c", 0o755, None), ("c/gone", 0o644, b"g")]))
    rc2, out = e.unpack(tar([("a/.wh.x", 0o644, b""), ("b/new", 0o644, b"n"),
                             ("b/implicit/x", 0o644, b"i"), ("b/.wh..wh..opq", 0o644, b""), (".wh.c", 0o644, b""),
                             ("d", 0o755, None), ("d/mine", 0o644, b"m"), ("d/.wh.mine", 0o644, b""),
                             (".wh.nonexistent", 0o644, b"")]))
    check(rc1 == 0 and rc2 == 0, f"whiteout layers unpack ({out.strip()})")
    check(not os.path.exists(e.path("a/x")) and os.path.exists(e.path("a/y")), ".wh.x removes x only")
    check(sorted(os.listdir(e.path("b"))) == ["implicit", "new"] and os.path.exists(e.path("b/implicit/x")),
          "opaque dir: lower entries gone, this layer's kept (with implicit parents)")
    check(not os.path.exists(e.path("c")), "a whiteout removes a whole directory")
    check(os.path.exists(e.path("d/mine")), "a whiteout does not remove its own layer's file")
    check(not any(n.startswith(".wh.") for _, ds, fs in os.walk(e.root) for n in ds + fs),
          "no whiteout file is left in the tree")
    e.done()


def hostile():
    cases = [
        ("../ escape", raw_entry("../escape", data=b"x") + END, "path leaves the root"),
        ("deep ../ escape", raw_entry("a/../../outside/victim", data=b"x") + END, "path leaves the root"),
        ("pax path ../", pax_entry([pax_record("path", "../../outside/victim")]) +
         raw_entry("innocent", data=b"x") + END, "path leaves the root"),
        ("hard link to ../", raw_entry("h", b"1", link="../outside/victim") + END, "leaves the root"),
        ("hard link to a missing absolute path", raw_entry("h", b"1", link="/etc/shadow") + END,
         "hard link target"),
        ("character device", raw_entry("dev/null", b"3") + END, "device nodes are refused"),
        ("block device", raw_entry("sda", b"4") + END, "device nodes are refused"),
        ("whiteout of ..", raw_entry(".wh...", data=b"") + END, "bad whiteout"),
        ("whiteout of .", raw_entry("a/.wh..", data=b"") + END, "bad whiteout"),
        ("huge pax size", pax_entry([pax_record("size", "99999999999999999")]) +
         raw_entry("big", data=b"") + END, "exceed the limit"),
        ("pax size not a number", pax_entry([pax_record("size", "12x")]) + raw_entry("f") + END,
         "bad pax value"),
        ("malformed pax record", header("p", b"x", 10) + pad(b"99 path=x\n") + raw_entry("f") + END,
         "malformed pax record"),
        ("truncated archive", raw_entry("f", data=b"y" * 2000)[:1024], "truncated"),
        ("no end marker", raw_entry("f", data=b"y"), "truncated"),
        ("bad checksum", raw_entry("f", data=b"y")[:148] + b"0000000\x00" + raw_entry("f", data=b"y")[156:] + END,
         "checksum"),
        ("not ustar", raw_entry("f", data=b"y", magic=b"xxxxxxxx") + END, "not a ustar header"),
        ("sparse file", raw_entry("s", b"S", data=b"") + END, "unsupported entry type"),
        ("data on a directory", header("d", b"5", 10) + pad(b"0123456789") + END, "data on a non-file"),
        ("whiteout prefix on a directory", raw_entry(".wh.x/f", data=b"y") + END, "whiteout prefix"),
        ("negative base-256 size", raw_entry("f", size_field=b"\xff" * 12) + END, "malformed number"),
    ]
    for name, data, want in cases:
        e = Env()
        rc, out = e.unpack(data)
        check(rc == 1 and want in out and "test-layer" in out and e.outside_intact(),
              f"{name}: refused ({out.strip()[:200]})")
        e.done()

    # symlinks that point out of the root: writes through them stay inside
    e = Env()
    evil = [("evil", 0o777, ("sym", e.outside)), ("up", 0o777, ("sym", "../../..")),
            ("victim-link", 0o777, ("sym", os.path.join(e.outside, "victim")))]
    rc, out = e.unpack(tar(evil))
    check(rc == 0, "symlinks pointing anywhere are created")
    rc, out = e.unpack(tar([("evil/pwned", 0o644, b"owned\n")]))
    check(e.outside_intact(), f"a file through an absolute symlink stays inside ({out.strip()[:160]})")
    rc, out = e.unpack(tar([("up/outside/pwned", 0o644, b"owned\n")]))
    check(e.outside_intact() and (rc != 0 or os.path.exists(e.path("outside/pwned"))),
          f"a file through a ../ symlink lands inside the root ({out.strip()[:160]})")
    rc, out = e.unpack(tar([("victim-link", 0o644, b"owned\n")]))
    check(rc == 0 and e.outside_intact() and open(e.path("victim-link")).read() == "owned\n",
          "a file over a symlink replaces the link, not its target")
    rc, out = e.unpack(tar([("h", 0o644, ("link", "evil/victim"))]))
    check(rc == 1 and e.outside_intact(), f"a hard link through a symlink to outside is refused ({out.strip()[:160]})")
    rc, out = e.unpack(tar([(".wh.evil", 0o644, b"")]))
    check(rc == 0 and not os.path.lexists(e.path("evil")) and e.outside_intact(),
          "a whiteout of a symlink removes the link, not its target")
    e.done()

    e = Env()
    big = gz(tar([("zeros", 0o644, b"\0" * (8 << 20))]))
    rc, out = e.unpack(big, TAR + "+gzip", env={"MAX_UNPACKED": str(1 << 20)})
    check(rc == 1 and "limit" in out, f"a decompression bomb stops at the unpack limit ({out.strip()[:160]})")
    e.done()
    e = Env()
    rc, out = e.unpack(b"\x1f\x8b\x08\x00garbage", TAR + "+gzip")
    check(rc == 1 and "gzip" in out, f"corrupt gzip is refused ({out.strip()[:160]})")
    rc, out = e.unpack(zst(tar([("f", 0o644, b"x")]))[:-8], TAR + "+zstd")
    check(rc == 1 and "zstd" in out, f"truncated zstd is refused ({out.strip()[:160]})")
    rc, out = e.unpack(tar([("f", 0o644, b"x")]), TAR + "+gzip+encrypted")
    check(rc == 1 and "cannot be unpacked" in out, f"an encrypted media type is not unpacked ({out.strip()[:160]})")
    e.done()


good_layers()
owners()
whiteouts()
hostile()
if failures:
    print(f"{len(failures)} FAILED", file=sys.stderr)
    sys.exit(1)
print("all passed")
