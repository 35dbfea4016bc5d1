#!/usr/bin/env python3
"""Compares critest runs (JUnit XML) of the runc baseline and coffer.

    compare.py SKIPLIST runc=JUNIT process=JUNIT [libvirt=JUNIT]

Prints a table (passed / failed / skipped per run), the specs skipped by name
on the libvirt backend with their reasons, and every spec that passes with
runc but does not pass with a coffer backend (its failure message). Exits 1
when there is such a spec, or when the baseline shows the local registry was
not used (runc failed to pull critest's images), else 0.

A coffer run's spec counts against it when runc passed it and coffer did not
(failed, or skipped by critest itself); only specs of SKIPLIST may be skipped
on the libvirt backend, and only there.
"""
import sys
import xml.etree.ElementTree as ET

# a spec that only passes with runc when critest's images come from the local registry
REGISTRY_PROBE = "Image Manager public image with tag should be pulled and removed"


def spec_name(case_name):
    """'[It] [k8s.io] Foo bar [Conformance]' -> 'Foo bar [Conformance]'."""
    n = case_name
    for p in ("[It] ", "[k8s.io] "):
        if n.startswith(p):
            n = n[len(p):]
    return n


def load(path):
    out = {}
    for c in ET.parse(path).getroot().iter("testcase"):
        name = c.get("name", "")
        f = c.find("failure")
        if f is None:
            f = c.find("error")
        if name.startswith(("[BeforeSuite]", "[AfterSuite]", "[SynchronizedBeforeSuite]")):
            if f is not None:  # a suite-level failure fails everything after it
                out[name] = ("failed", " ".join((f.get("message") or f.text or "").split()))
            continue
        if f is not None:
            out[spec_name(name)] = ("failed", " ".join((f.get("message") or f.text or "").split()))
        elif c.find("skipped") is not None or c.get("status") in ("skipped", "pending"):
            out[spec_name(name)] = ("skipped", "")
        else:
            out[spec_name(name)] = ("passed", "")
    return out


def load_skiplist(path):
    skips = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, reason = line.partition(" | ")
            skips[name.strip()] = reason.strip()
    return skips


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    skips = load_skiplist(sys.argv[1])
    runs = {}
    for arg in sys.argv[2:]:
        label, _, path = arg.partition("=")
        runs[label] = load(path)
    base = runs["runc"]

    def count(r, state):
        return sum(1 for v in r.values() if v[0] == state)

    print(f"{'critest v1.36.0':<18}{'passed':>8}{'failed':>8}{'skipped':>9}{'specs':>7}")
    for label, r in runs.items():
        print(f"{label:<18}{count(r, 'passed'):>8}{count(r, 'failed'):>8}{count(r, 'skipped'):>9}{len(r):>7}")

    rc = 0
    if base.get(REGISTRY_PROBE, ("missing",))[0] != "passed":
        print(f"\nFAIL: runc did not pass '{REGISTRY_PROBE}': the local registry was not used")
        rc = 1

    if "libvirt" in runs:
        print(f"\nskipped by name on the libvirt backend ({len(skips)}, tests/critest/vm-skip.txt):")
        for n, why in skips.items():
            state = runs["libvirt"].get(n, ("absent",))[0]
            print(f"  {n}  [{state}]\n      {why}")
            if state not in ("skipped", "absent"):
                print("      (ran: the skip list no longer matches critest's spec name)")
                rc = 1

    for label, r in runs.items():
        if label == "runc":
            continue
        regress = []
        for n, (state, _) in base.items():
            if state != "passed":
                continue
            got = r.get(n, ("absent", "not run"))
            if got[0] == "passed":
                continue
            if label == "libvirt" and n in skips and got[0] in ("skipped", "absent"):
                continue
            regress.append((n, got))
        suite = [(n, v) for n, v in r.items() if n.startswith("[") and v[0] == "failed"]
        print(f"\n{label}: {len(regress)} spec(s) pass with runc but not with coffer")
        for n, (state, msg) in regress + suite:
            print(f"  {state.upper()} {n}\n      {msg[:500]}")
        if regress or suite:
            rc = 1
        better = [n for n, v in r.items() if v[0] == "passed" and base.get(n, ("",))[0] != "passed"]
        if better:
            print(f"{label}: passes where runc does not: " + "; ".join(better))
    return rc


if __name__ == "__main__":
    sys.exit(main())
