#!/usr/bin/env python3
"""Runs coffer-attest on every vector of the shared attestation test data and
compares its JSON output with expected.json (read in place, never copied).

usage: check_vectors.py CLI DATA_DIR GROUP
GROUP: snp | snp_negative | tdx | tdx_negative | tdx_collateral | expiry |
       builtin_chain | pinning | reference | usage | collateral_tamper
Exit 0 = all vectors as expected, 1 = a mismatch, 77 = test data absent."""
import datetime as dt
import json
import os
import subprocess
import sys

failures = []


def fail(vector, msg):
    failures.append(f"{vector}: {msg}")


def parse_time(s):
    return dt.datetime.strptime(s.replace("+00:00", ""), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=dt.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(cli, args):
    p = subprocess.run([cli] + args, capture_output=True, text=True, timeout=60)
    if p.returncode not in (0, 1):
        return p.returncode, None, p.stderr
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except json.JSONDecodeError as e:
        return p.returncode, None, f"output is not JSON: {e}"


def checks_of(out):
    return {c["name"]: c for c in out["checks"]}


def compare(vector, path, want, have):
    """Every key of `want` must be present in `have` with an equal value."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            fail(vector, f"{path}: expected an object, got {have!r}")
            return
        for k, v in want.items():
            if k not in have:
                fail(vector, f"{path}.{k}: missing (expected {v!r})")
            else:
                compare(vector, f"{path}.{k}", v, have[k])
    elif want != have:
        fail(vector, f"{path}: expected {want!r}, got {have!r}")


def check_results(vector, want, out, renames=None):
    """Expected check outcomes: a boolean per check name."""
    ck = checks_of(out)
    for name, value in want.items():
        if not isinstance(value, bool):
            continue
        mine, expect = name, value
        if renames and name in renames:
            mine, expect = renames[name], not value
        if mine not in ck:
            fail(vector, f"check {mine} not reported")
        elif ck[mine]["pass"] != expect:
            fail(vector, f"check {mine}: pass={ck[mine]['pass']}, expected {expect} "
                         f"({ck[mine]['reason']})")


def verdict_consistent(vector, rc, out):
    """Genuine evidence without reference values is GENUINE, never ACCEPT."""
    ok = all(c["pass"] for c in out["checks"]) and len(out["checks"]) > 0
    appraised = out.get("appraisal", "").startswith("reference")
    want = "REJECT" if not ok else "ACCEPT" if appraised else "GENUINE"
    if (rc == 0) != ok or out.get("verdict") != want:
        fail(vector, f"exit {rc} / verdict {out.get('verdict')} disagree with the checks "
                     f"(expected {want})")
    if not appraised and not out.get("appraisal", "").startswith("none"):
        fail(vector, f"appraisal {out.get('appraisal')!r} does not say none was made")


def debug_flagged(vector, out, debug):
    """A debug-enabled guest is flagged, a production one is not."""
    warned = any("debug" in w for w in out.get("warnings", []))
    if bool(debug) != warned:
        fail(vector, f"debug={debug} but warnings={out.get('warnings')}")


def snp_args(data, v, at):
    a = ["verify-snp", "--report", os.path.join(data, v["report"]),
         "--signer", os.path.join(data, v["signer_cert"]), "--at", rfc3339(at)]
    if v.get("ca_chain"):
        a += ["--chain", os.path.join(data, v["ca_chain"])]
    return a


def group_snp(cli, data, exp):
    for name, v in exp["snp"].items():
        start, end = (parse_time(t) for t in v["valid_time_window"])
        rc, out, err = run(cli, snp_args(data, v, start + dt.timedelta(days=1)))
        if out is None:
            fail(name, f"exit {rc}: {err}")
            continue
        verdict_consistent(name, rc, out)
        if rc != 0:
            bad = [c for c in out["checks"] if not c["pass"]]
            fail(name, f"rejected: {bad}")
        check_results(name, v["results"], out)
        debug_flagged(name, out, int(v["fields"]["policy"], 16) >> 19 & 1)
        compare(name, "fields", v["fields"], out.get("fields"))
        compare(name, "signer_cert_ext", v["signer_cert_ext"], out.get("signer_cert_ext"))
        compare(name, "product", v["product"], out.get("product"))
        compare(name, "signer_kind", v["signer_kind"], out.get("signer_kind"))
        print(f"ok   {name}: accepted, {len(out['checks'])} checks, fields equal expected.json")


# Negative vectors whose expected.json gives an error message instead of
# per-check outcomes: the check that must name the failure.
ERROR_CHECKS = {
    "gsg_truncated_1183": ("report_parse", "report length 1183 != 1184"),
    "spr_e4_version_byte_3.dat": ("quote_parse", "unknown version 3"),
    "spr_e4_attest_key_flip.dat": ("QUOTE_SIG_VALID", "not a valid P-256 point"),
}


def negative(name, v, rc, out, err):
    if out is None:
        fail(name, f"exit {rc}: {err}")
        return
    verdict_consistent(name, rc, out)
    if rc != 1:
        fail(name, f"exit {rc}, expected 1 (rejected)")
    res = v["results"]
    if "error" in res:
        check, text = ERROR_CHECKS[name]
        ck = checks_of(out).get(check)
        if not ck or ck["pass"] or text not in ck["reason"]:
            fail(name, f"expected check {check} to fail with '{text}', got {ck}")
    else:
        check_results(name, res, out)
    first = out.get("first_failure")
    print(f"ok   {name}: rejected, first failed check {first}")


def group_snp_negative(cli, data, exp):
    at = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    for name, v in exp["snp_negative"].items():
        rc, out, err = run(cli, snp_args(data, v, at))
        negative(name, v, rc, out, err)


def group_tdx(cli, data, exp):
    for name, v in exp["tdx"].items():
        start, end = (parse_time(t) for t in v["pck_chain_valid_window"])
        at = start + dt.timedelta(days=1)
        rc, out, err = run(cli, ["verify-tdx", "--quote", os.path.join(data, v["quote"]),
                                 "--at", rfc3339(at)])
        if out is None:
            fail(name, f"exit {rc}: {err}")
            continue
        verdict_consistent(name, rc, out)
        if rc != 0:
            fail(name, f"rejected: {[c for c in out['checks'] if not c['pass']]}")
        check_results(name, v["results"], out)
        debug_flagged(name, out, v["fields"]["td_debug"])
        compare(name, "fields", v["fields"], out.get("fields"))
        compare(name, "pck_tcb", v["pck_tcb"], out.get("pck_tcb"))
        compare(name, "pck_chain_subjects", v["pck_chain_subjects"], out.get("pck_chain_subjects"))
        compare(name, "pck_chain_valid_window", v["pck_chain_valid_window"],
                out.get("pck_chain_valid_window"))
        compare(name, "root_sha256", v["root_sha256"], out.get("root_sha256"))
        print(f"ok   {name}: accepted, {len(out['checks'])} checks, fields equal expected.json")


def group_tdx_negative(cli, data, exp):
    at = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    for name, v in exp["tdx_negative"].items():
        rc, out, err = run(cli, ["verify-tdx", "--quote", os.path.join(data, v["quote"]),
                                 "--at", rfc3339(at)])
        negative(name, v, rc, out, err)
        if out and "chain_cert_count" in v["results"]:
            compare(name, "chain_cert_count", v["results"]["chain_cert_count"],
                    out.get("fields", {}).get("chain_cert_count"))
            compare(name, "version", v["results"]["version"], out.get("fields", {}).get("version"))


RENAMES = {"pck_revoked": "pck_not_revoked", "intermediate_revoked": "intermediate_not_revoked"}
TCB_KEYS = ("overall_tcb_status", "platform_tcb_level", "tdx_module_tcb_level", "qe_tcb_status")


def group_tdx_collateral(cli, data, exp):
    opts = {"tcb_info": "--tcb-info", "qe_identity": "--qe-identity", "pck_crl": "--pck-crl",
            "root_crl": "--root-crl", "tcb_signing_chain": "--tcb-signing-chain"}
    for name, v in exp["tdx_collateral"].items():
        args = ["verify-tdx", "--quote", os.path.join(data, v["quote"]), "--at", v["verify_at"]]
        for key, opt in opts.items():
            if v.get(key):
                args += [opt, os.path.join(data, v[key])]
        rc, out, err = run(cli, args)
        if out is None:
            fail(name, f"exit {rc}: {err}")
            continue
        verdict_consistent(name, rc, out)
        res = v["results"]
        check_results(name, res, out, RENAMES)
        tcb = out.get("tcb_evaluation", {})
        for k in TCB_KEYS:
            if k in res:
                compare(name, k, res[k], tcb.get(k))
        print(f"ok   {name}: TCB status {tcb.get('overall_tcb_status')!r} as expected at {v['verify_at']}")


def group_expiry(cli, data, exp):
    day = dt.timedelta(days=1)
    for name, v in exp["snp"].items():
        start, end = (parse_time(t) for t in v["valid_time_window"])
        for at, when in ((end + day, "after notAfter"), (start - day, "before notBefore")):
            rc, out, err = run(cli, snp_args(data, v, at))
            ck = checks_of(out).get("vcek_valid_at") if out else None
            if rc != 1 or not ck or ck["pass"]:
                fail(name, f"{when} ({rfc3339(at)}): exit {rc}, vcek_valid_at {ck}")
            else:
                print(f"ok   {name}: signer rejected {when} ({rfc3339(at)}): {ck['reason']}")
    for name, v in exp["tdx"].items():
        start, end = (parse_time(t) for t in v["pck_chain_valid_window"])
        for at, when in ((end + day, "after notAfter"), (start - day, "before notBefore")):
            rc, out, err = run(cli, ["verify-tdx", "--quote", os.path.join(data, v["quote"]),
                                     "--at", rfc3339(at)])
            ck = checks_of(out).get("pck_chain_valid_at") if out else None
            if rc != 1 or not ck or ck["pass"]:
                fail(name, f"{when} ({rfc3339(at)}): exit {rc}, pck_chain_valid_at {ck}")
            else:
                print(f"ok   {name}: PCK chain rejected {when} ({rfc3339(at)})")
    # Collateral outside its window: the v4 collateral of 2023 a year later.
    v = exp["tdx_collateral"]["trustee_quote_4@2023-07-01 (gotdx collateral, same FMSPC)"]
    args = ["verify-tdx", "--quote", os.path.join(data, v["quote"]), "--at", "2024-07-01T00:00:00Z",
            "--tcb-info", os.path.join(data, v["tcb_info"]),
            "--qe-identity", os.path.join(data, v["qe_identity"]),
            "--pck-crl", os.path.join(data, v["pck_crl"]),
            "--root-crl", os.path.join(data, v["root_crl"]),
            "--tcb-signing-chain", os.path.join(data, v["tcb_signing_chain"])]
    rc, out, err = run(cli, args)
    ck = checks_of(out) if out else {}
    for c in ("tcbinfo_fresh_at", "qeidentity_fresh_at", "pck_crl_fresh_at", "root_crl_fresh_at"):
        if rc != 1 or c not in ck or ck[c]["pass"]:
            fail("trustee_quote_4 collateral @2024-07-01", f"{c} should fail (exit {rc})")
    print("ok   stale collateral rejected a year after issue")


def group_signer_bundle(cli, data, exp):
    """A signer PEM holding the VCEK followed by its ASK and ARK (as a cloud's
    certificate service returns it): the first is the signer, the rest chain."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for name, v in exp["snp"].items():
            if not v.get("ca_chain"):
                continue
            der = open(os.path.join(data, v["signer_cert"]), "rb").read()
            p = subprocess.run(["openssl", "x509", "-inform", "DER", "-outform", "PEM"],
                               input=der, capture_output=True, check=True)
            bundle = os.path.join(tmp, name + ".pem")
            with open(bundle, "wb") as f:
                f.write(p.stdout + open(os.path.join(data, v["ca_chain"]), "rb").read())
            start, _ = (parse_time(t) for t in v["valid_time_window"])
            args = ["verify-snp", "--report", os.path.join(data, v["report"]),
                    "--signer", bundle, "--at", rfc3339(start + dt.timedelta(days=1))]
            rc, out, err = run(cli, args)
            if out is None:
                fail(name, f"exit {rc}: {err}")
                continue
            verdict_consistent(name, rc, out)
            if rc != 0:
                fail(name, f"bundle rejected: {[c for c in out['checks'] if not c['pass']]}")
                continue
            print(f"ok   {name}: VCEK+ASK+ARK bundle as --signer accepted")
            # The bundle's own ARK must still be a pinned one: a forged root
            # appended after the VCEK is refused.
            forged = os.path.join(tmp, name + ".forged.pem")
            key = os.path.join(tmp, "k.pem")
            chain_pem = open(os.path.join(data, v["ca_chain"])).read()
            ark = "-----BEGIN" + chain_pem.split("-----BEGIN")[-1]
            subj = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "compat"],
                                  input=ark.encode(), capture_output=True, check=True)
            subj = subj.stdout.decode().strip().removeprefix("subject=")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-subj", subj, "-days", "1",
                            "-out", forged + ".ark"], capture_output=True, check=True)
            with open(forged, "wb") as f:
                f.write(p.stdout + open(forged + ".ark", "rb").read())
            rc, out, err = run(cli, ["verify-snp", "--report", os.path.join(data, v["report"]),
                                     "--signer", forged, "--at",
                                     rfc3339(start + dt.timedelta(days=1))])
            ck = checks_of(out) if out else {}
            if out is None or rc != 1 or ck.get("ark_pinned", {}).get("pass") is not False:
                fail(name, f"bundle with a foreign root named like the ARK: exit {rc}, "
                           f"expected 1 with ark_pinned failing")
    if not failures:
        print("ok   signer bundles")


def group_builtin_chain(cli, data, exp):
    """Without --chain the compiled-in ASK/ASVK and pinned ARKs are used."""
    for name, v in exp["snp"].items():
        start, _ = (parse_time(t) for t in v["valid_time_window"])
        args = [a for a in snp_args(data, dict(v, ca_chain=None), start + dt.timedelta(days=1))]
        rc, out, err = run(cli, args)
        if rc != 0 or out is None:
            fail(name, f"built-in chain: exit {rc} {err} {out and out.get('first_failure')}")
        else:
            print(f"ok   {name}: accepted with the built-in {out['product']} chain")


def group_pinning(cli, data, exp):
    """A chain file whose ARK is not pinned cannot vouch for a VCEK."""
    import tempfile
    v = exp["snp"]["gsg_milan"]
    subj = "/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices/CN="
    with tempfile.TemporaryDirectory() as d:
        def ossl(*a):
            subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ark.key", "-out",
             "ark.pem", "-subj", subj + "ARK-Milan", "-days", "3650")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "ask.key", "-out", "ask.csr",
             "-subj", subj + "SEV-Milan")
        ossl("x509", "-req", "-in", "ask.csr", "-CA", "ark.pem", "-CAkey", "ark.key",
             "-CAcreateserial", "-out", "ask.pem", "-days", "3650")
        with open(os.path.join(d, "chain.pem"), "w") as f:
            f.write(open(os.path.join(d, "ask.pem")).read() + open(os.path.join(d, "ark.pem")).read())
        start, _ = (parse_time(t) for t in v["valid_time_window"])
        rc, out, err = run(cli, snp_args(data, dict(v, ca_chain=os.path.join(d, "chain.pem")),
                                         start + dt.timedelta(days=1)))
    ck = checks_of(out) if out else {}
    if rc != 1 or ck.get("ark_pinned", {}).get("pass") is not False or \
            ck.get("vcek_signed_by_ask", {}).get("pass") is not False:
        fail("forged ARK-Milan", f"exit {rc}, checks {ck}")
    else:
        print("ok   forged ARK-Milan/SEV-Milan chain rejected: " + ck["ark_pinned"]["reason"])
    # A CRL not issued by the chain's ARK (here Intel's root CRL) is refused.
    rc, out, err = run(cli, snp_args(data, v, start + dt.timedelta(days=1)) +
                       ["--crl", os.path.join(data, "tdx/gotdx/rootcrl.der")])
    ck = checks_of(out) if out else {}
    if rc != 1 or ck.get("crl_sig_valid", {}).get("pass") is not False:
        fail("foreign CRL", f"exit {rc}, checks {ck}")
    else:
        print("ok   CRL from another issuer rejected: " + ck["crl_sig_valid"]["reason"])


def group_reference(cli, data, exp):
    import tempfile
    v = exp["snp"]["gsg_milan"]
    f = v["fields"]
    start, _ = (parse_time(t) for t in v["valid_time_window"])
    at = start + dt.timedelta(days=1)
    good = {"snp": {"measurement": [f["measurement"]], "report_data": f["report_data"],
                    "host_data": f["host_data"], "allow_debug": True, "products": ["Milan"],
                    "min_tcb": {"bl": 2, "tee": 0, "snp": 5, "ucode": 68}, "vmpl": 0}}
    t = exp["tdx"]["trustee_quote_6"]
    tf = t["fields"]
    tstart, _ = (parse_time(x) for x in t["pck_chain_valid_window"])
    tgood = {"tdx": {"mrtd": tf["mrtd"], "rtmr0": tf["rtmr0"], "rtmr1": tf["rtmr1"],
                     "rtmr2": tf["rtmr2"], "rtmr3": tf["rtmr3"], "report_data": tf["report_data"],
                     "mrconfigid": tf["mrconfigid"], "mrowner": tf["mrowner"],
                     "mrownerconfig": tf["mrownerconfig"], "min_tee_tcb_svn": tf["tee_tcb_svn"]}}
    flip = lambda h: ("1" if h[0] == "0" else "0") + h[1:]
    cases = [
        ("snp matching reference", good, 0, None),
        ("snp wrong measurement", {"snp": dict(good["snp"], measurement=[flip(f["measurement"])])},
         1, "reference.measurement"),
        ("snp debug not allowed by default",
         {"snp": {k: x for k, x in good["snp"].items() if k != "allow_debug"}}, 1, "reference.debug"),
        ("snp TCB below minimum", {"snp": dict(good["snp"], min_tcb={"snp": 6})}, 1,
         "reference.min_tcb"),
        ("snp product not allowed", {"snp": dict(good["snp"], products=["Genoa"])}, 1,
         "reference.product"),
        ("snp host_data mismatch", {"snp": dict(good["snp"], host_data="11" * 32)}, 1,
         "reference.host_data"),
        ("snp without snp section", tgood, 1, "reference.snp"),
        ("snp unknown key", {"snp": dict(good["snp"], measurment=[f["measurement"]])}, 2, None),
        ("snp short hex", {"snp": {"measurement": "00"}}, 2, None),
        ("tdx matching reference", tgood, 0, None),
        ("tdx wrong rtmr2", {"tdx": dict(tgood["tdx"], rtmr2=flip(tf["rtmr2"]))}, 1, "reference.rtmr2"),
        ("tdx wrong mrconfigid", {"tdx": dict(tgood["tdx"], mrconfigid="00" * 48)}, 1,
         "reference.mrconfigid"),
        ("tdx svn below minimum", {"tdx": dict(tgood["tdx"], min_tee_tcb_svn="06" + "00" * 15)}, 1,
         "reference.min_tee_tcb_svn"),
    ]
    with tempfile.TemporaryDirectory() as d:
        for label, doc, want_rc, want_check in cases:
            path = os.path.join(d, "ref.json")
            with open(path, "w") as fh:
                json.dump(doc, fh)
            if label.startswith("snp"):
                args = snp_args(data, v, at)
            else:
                args = ["verify-tdx", "--quote", os.path.join(data, t["quote"]),
                        "--at", rfc3339(tstart + dt.timedelta(days=1))]
            rc, out, err = run(cli, args + ["--reference", path])
            if rc != want_rc:
                fail(label, f"exit {rc}, expected {want_rc} ({err.strip()})")
                continue
            if want_check:
                bad = [c["name"] for c in out["checks"] if not c["pass"]]
                if bad != [want_check]:
                    fail(label, f"failed checks {bad}, expected exactly [{want_check}]")
                    continue
            print(f"ok   {label}: exit {rc}" + (f", {want_check} named" if want_check else ""))


def group_usage(cli, data, exp):
    v = exp["snp"]["gsg_milan"]
    cases = [
        ("no command", []),
        ("unknown command", ["verify-sgx"]),
        ("missing --signer", ["verify-snp", "--report", os.path.join(data, v["report"])]),
        ("unreadable report", ["verify-snp", "--report", "/nonexistent/report.bin",
                               "--signer", os.path.join(data, v["signer_cert"])]),
        ("bad --at", snp_args(data, v, dt.datetime(2025, 1, 1))[:-2] + ["--at", "yesterday"]),
        ("tdx collateral without signing chain",
         ["verify-tdx", "--quote", os.path.join(data, "tdx/trustee/tdx_quote_6.dat"),
          "--tcb-info", os.path.join(data, "tdx/trustee/tcbInfo.json")]),
        ("stray argument", ["verify-tdx", "--quote", os.path.join(data, "tdx/trustee/tdx_quote_6.dat"),
                            "extra"]),
    ]
    for label, args in cases:
        p = subprocess.run([cli] + args, capture_output=True, text=True, timeout=60)
        if p.returncode != 2 or not p.stderr.strip():
            fail(label, f"exit {p.returncode}, stderr {p.stderr!r}; expected 2 with a message")
        else:
            print(f"ok   {label}: exit 2: {p.stderr.splitlines()[0]}")
    # Garbage as signer certificate is readable input but not evidence: exit 1.
    rc, out, err = run(cli, ["verify-snp", "--report", os.path.join(data, v["report"]),
                             "--signer", os.path.join(data, v["report"])])
    if rc != 1 or not out or checks_of(out).get("signer_cert_parse", {}).get("pass") is not False:
        fail("garbage signer", f"exit {rc} {out}")
    else:
        print("ok   garbage signer certificate: exit 1, signer_cert_parse named")



def group_collateral_tamper(cli, data, exp):
    """Collateral altered after Intel signed it, or signed by the wrong key, is refused."""
    import tempfile
    v = exp["tdx_collateral"]["trustee_quote_4@2023-07-01 (gotdx collateral, same FMSPC)"]
    base = {"--tcb-info": v["tcb_info"], "--qe-identity": v["qe_identity"],
            "--pck-crl": v["pck_crl"], "--root-crl": v["root_crl"],
            "--tcb-signing-chain": v["tcb_signing_chain"]}
    tcb = open(os.path.join(data, v["tcb_info"])).read()
    qe = open(os.path.join(data, v["qe_identity"])).read()
    cases = [
        ("TCB info level status edited", {"--tcb-info": tcb.replace('"OutOfDate"', '"UpToDate"', 1)},
         "tcbinfo_sig_valid"),
        ("TCB info re-indented", {"--tcb-info": tcb.replace('{"tcbInfo":{', '{"tcbInfo": { ', 1)},
         "tcbinfo_sig_valid"),
        ("QE identity isvsvn edited", {"--qe-identity": qe.replace('"isvsvn":4', '"isvsvn":3', 1)},
         "qeidentity_sig_valid"),
        ("collateral with the PCK Platform CA as signer",
         {"--tcb-signing-chain": open(os.path.join(data, "tdx/certs/pck_platform_ca_chain.pem")).read()},
         "tcb_signing_chain_valid"),
        ("PCK CRL given as root CRL", {"--root-crl": None}, "root_crl_sig_valid"),
        ("TCB info for another FMSPC",
         {"--tcb-info": open(os.path.join(data, "tdx/gotdx/sample_tcbinfo_response_v5")).read()},
         "fmspc_match"),
        ("TCB info with a duplicated key", {"--tcb-info": tcb.replace('{"tcbInfo":', '{"tcbInfo":{},"tcbInfo":', 1)},
         "tcbinfo_parse"),
    ]
    with tempfile.TemporaryDirectory() as d:
        for label, change, check in cases:
            args = ["verify-tdx", "--quote", os.path.join(data, v["quote"]), "--at", v["verify_at"]]
            for opt, rel in base.items():
                path = os.path.join(data, rel)
                if opt in change:
                    if change[opt] is None:
                        path = os.path.join(data, v["pck_crl"])
                    else:
                        path = os.path.join(d, opt.strip("-"))
                        with open(path, "w") as f:
                            f.write(change[opt])
                args += [opt, path]
            rc, out, err = run(cli, args)
            ck = checks_of(out) if out else {}
            if rc != 1 or check not in ck or ck[check]["pass"]:
                fail(label, f"exit {rc}, {check}: {ck.get(check)} {err}")
            else:
                print(f"ok   {label}: rejected by {check}: {ck[check]['reason'][:100]}")

GROUPS = {"snp": group_snp, "snp_negative": group_snp_negative, "tdx": group_tdx,
          "tdx_negative": group_tdx_negative, "tdx_collateral": group_tdx_collateral,
          "expiry": group_expiry, "builtin_chain": group_builtin_chain,
          "pinning": group_pinning, "reference": group_reference, "usage": group_usage,
          "signer_bundle": group_signer_bundle,
          "collateral_tamper": group_collateral_tamper}


def main():
    cli, data, group = sys.argv[1:4]
    exp_path = os.path.join(data, "expected.json")
    if not os.path.isfile(exp_path):
        print(f"SKIP: attestation test data not found at {data} "
              "(expected ../shared/testdata/attestation beside the checkout)")
        return 77
    with open(exp_path) as f:
        exp = json.load(f)
    GROUPS[group](cli, data, exp)
    for msg in failures:
        print(f"FAIL {msg}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
