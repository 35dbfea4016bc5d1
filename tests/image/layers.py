"""Tar layers for the image tests, written byte by byte where tarfile would
refuse or normalise what a hostile layer does."""
import gzip
import hashlib
import io
import subprocess
import tarfile

MTIME = 1000000000


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def header(name, typ=b"0", size=0, link="", mode=0o644, prefix="", magic=b"ustar\x0000",
           size_field=None):
    b = bytearray(512)
    b[0:len(name)] = name.encode()[:100]
    b[100:108] = b"%07o\x00" % mode
    b[108:116] = b"%07o\x00" % 0
    b[116:124] = b"%07o\x00" % 0
    b[124:136] = size_field if size_field is not None else b"%011o\x00" % size
    b[136:148] = b"%011o\x00" % MTIME
    b[156:157] = typ
    b[157:157 + len(link)] = link.encode()[:100]
    b[257:265] = magic
    b[345:345 + len(prefix)] = prefix.encode()[:155]
    b[148:156] = b" " * 8
    b[148:156] = b"%06o\x00 " % sum(b)
    return bytes(b)


def pad(data):
    return data + b"\x00" * ((512 - len(data) % 512) % 512)


def raw_entry(name, typ=b"0", data=b"", link="", mode=0o644, **kw):
    return header(name, typ, len(data), link, mode, **kw) + pad(data)


def pax_record(key, value):
    body = " %s=%s\n" % (key, value)
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return ("%d%s" % (n, body)).encode()


def pax_entry(records):
    data = b"".join(records)
    return header("PaxHeaders/x", b"x", len(data)) + pad(data)


END = b"\x00" * 1024


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (path, mode, data | None (dir) | ("sym", target) | ("link", target) | ("fifo",) | ("chr",))."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as t:
        for path, mode, data in entries:
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid, info.mode = MTIME, 0, 0, mode
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif isinstance(data, tuple):
                kind = data[0]
                info.type = {"sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                             "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
                if len(data) > 1:
                    info.linkname = data[1]
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as g:
        g.write(data)
    return out.getvalue()


def zst(data):
    return subprocess.run(["zstd", "-q", "-c", "-"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout
