#!/usr/bin/env python3
"""Compares critest runs (JUnit XML) of the runc baseline and coffer.

    compare.py SKIPLIST [same=SAMELIST] [libvirt-focus=REGEX] [runc-only=REGEX]
               [runc=JUNIT[@SECONDS]] process=JUNIT[@SECONDS] [libvirt=JUNIT[@SECONDS]]
    compare.py skip-regex SKIPLIST... [process=JUNIT]
        -ginkgo.skip for the libvirt run: the specs of the SKIPLISTs, and (given runs)
        every spec the process backend did not pass (it decides nothing on the
        libvirt backend: it fails the comparison already, or runc fails it too;
        a stop that hangs costs a minute in a VM)
    compare.py runc-focus SKIPLIST [same=SAMELIST] [libvirt-focus=REGEX]
               process=JUNIT [libvirt=JUNIT]
        -ginkgo.focus for the runc run: every spec a coffer run did not pass
        (and was not allowed to leave out). A spec coffer passed cannot differ
        from runc, so only these need runc's verdict; empty: runc need not run.

Prints a table (passed / failed / skipped per run), the specs skipped by name
on the libvirt backend with their reasons, and every spec that passes with
runc but does not pass with a coffer backend (its failure message). Exits 1
when there is such a spec, or when the baseline shows the local registry was
not used (runc failed to pull critest's images), else 0.

runc may have run only the specs coffer did not pass (runc-focus): the verdict
is the same as with a whole runc run, and the local registry counts as used
when any run passed the probe spec.

A coffer run's spec counts against it when runc passed it and coffer did not
(failed, or skipped by critest itself); only specs of SKIPLIST (cannot hold
in a VM) and SAMELIST (left out for time: the same code as on the process
backend, which must pass them) may be skipped, and only on the libvirt backend;
with libvirt-focus (CRITEST_LIBVIRT_FOCUS), so may the specs it does not match.
"""
import re
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


def clean(msg, text=""):
    """The gist of a failure: gomega wraps gRPC errors in a dump of the Go struct;
    the text says where (e.g. In [AfterEach] at: .../networking.go:53)."""
    where = ""
    for line in (text or "").splitlines():
        if line.startswith("In [") and " at: " in line:
            where = " (" + line.split(" @ ")[0].replace(" at: sigs.k8s.io/cri-tools/pkg/", " at ") + ")"
    msg = " ".join(msg.split())
    i = msg.find("rpc error: ")
    if i >= 0:
        msg = msg[i:]
    dump = re.search(r" \{ [A-Za-z]+: ", msg)  # e.g. " { s: ", " { Err: ", " { Op: "
    if dump:
        msg = msg[:dump.start()]
    return msg + where


def load(path):
    out = {}
    for c in ET.parse(path).getroot().iter("testcase"):
        name = c.get("name", "")
        f = c.find("failure")
        if f is None:
            f = c.find("error")
        if name.startswith(("[BeforeSuite]", "[AfterSuite]", "[SynchronizedBeforeSuite]")):
            if f is not None:  # a suite-level failure fails everything after it
                out[name] = ("failed", clean(f.get("message") or f.text or "", f.text))
            continue
        if f is not None:
            out[spec_name(name)] = ("failed", clean(f.get("message") or f.text or "", f.text))
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


def ginkgo_text(name):
    """critest's spec text as -ginkgo.focus/skip see it: no [Serial] decorator."""
    return name[:-len(" [Serial]")] if name.endswith(" [Serial]") else name


def skip_regex(args):
    names = []
    for arg in args:
        label, eq, path = arg.partition("=")
        if not eq:
            names += list(load_skiplist(arg))
        else:
            names += [n for n, v in load(path).items() if v[0] != "passed" and not n.startswith("[")]
    print(names_regex(names))
    return 0


def names_regex(names):
    esc = ("".join("\\" + c if c in "\\.+*?()|[]{}^$" else c for c in ginkgo_text(n)) + "$"
           for n in sorted(set(names)))
    return "|".join(esc)


def may_leave_out(label, n, skips, same, focus):
    """A spec the libvirt run may leave out: it cannot hold in a VM, is the
    same code as on the process backend, or is outside CRITEST_LIBVIRT_FOCUS."""
    return label == "libvirt" and (n in skips or n in same or (focus and not focus.search(n)))


def runc_focus(args):
    skips = load_skiplist(args[0])
    same, focus, runs = {}, None, {}
    for arg in args[1:]:
        label, _, path = arg.partition("=")
        if label == "same":
            same = load_skiplist(path)
        elif label == "libvirt-focus":
            focus = re.compile(path)
        else:
            runs[label] = load(path)
    names = set()
    for label, r in runs.items():
        for n, (state, _) in r.items():
            if n.startswith("[") or state == "passed":
                continue
            if state == "skipped" and may_leave_out(label, n, skips, same, focus):
                continue
            names.add(n)
    print(names_regex(names))
    return 0


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "skip-regex":
        return skip_regex(sys.argv[2:])
    if len(sys.argv) > 2 and sys.argv[1] == "runc-focus":
        return runc_focus(sys.argv[2:])
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    skips = load_skiplist(sys.argv[1])
    runs, secs, same, focus, runc_only = {}, {}, {}, None, None
    for arg in sys.argv[2:]:
        label, _, path = arg.partition("=")
        if label == "same":
            same = load_skiplist(path)
            continue
        if label == "libvirt-focus":
            focus = re.compile(path)
            continue
        if label == "runc-only":
            runc_only = re.compile(path)
            continue
        path, _, secs[label] = path.partition("@")
        runs[label] = load(path)
    if runc_only and "runc" in runs:  # runc ran these specs alone: the rest were not its verdicts
        runs["runc"] = {n: v for n, v in runs["runc"].items() if runc_only.search(ginkgo_text(n))}
    base = runs.get("runc", {})
    coffer_specs = set(n for label, r in runs.items() if label != "runc" for n in r)

    def count(r, state):
        return sum(1 for v in r.values() if v[0] == state)

    print(f"{'critest v1.36.0':<18}{'passed':>8}{'failed':>8}{'skipped':>9}{'specs':>7}{'seconds':>9}")
    for label, r in runs.items():
        print(f"{label:<18}{count(r, 'passed'):>8}{count(r, 'failed'):>8}{count(r, 'skipped'):>9}"
              f"{len(r):>7}{secs[label] or '-':>9}")

    if len(base) < len(coffer_specs):
        print(f"runc ran {len(base)} of {len(coffer_specs)} specs: only those coffer did not pass need its verdict"
              " (CRITEST_RUNC=all runs every spec)")

    rc = 0
    if not any(n.startswith(REGISTRY_PROBE) and v[0] == "passed" for r in runs.values() for n, v in r.items()):
        print(f"\nFAIL: no run passed '{REGISTRY_PROBE}': the local registry was not used")
        rc = 1

    if "libvirt" in runs:
        print(f"\nskipped by name on the libvirt backend ({len(skips)}, tests/critest/vm-skip.txt):")
        for n, why in skips.items():
            state = runs["libvirt"].get(n, ("absent",))[0]
            print(f"  {n}  [{state}]\n      {why}")
            if state not in ("skipped", "absent"):
                print("      (ran: the skip list no longer matches critest's spec name)")
                rc = 1

    if "libvirt" in runs and same:
        left = [n for n in same if runs["libvirt"].get(n, ("absent",))[0] in ("skipped", "absent")]
        print(f"\nleft out on the libvirt backend for time ({len(left)} of {len(same)},"
              " tests/critest/libvirt-same.txt: the same code as on the process backend)")

    for label, r in runs.items():
        if label == "runc":
            continue
        regress, not_run, unfocused = [], [], []
        for n, (state, _) in base.items():
            if state != "passed":
                continue
            got = r.get(n, ("absent", "not run"))
            if got[0] == "passed":
                continue
            if may_leave_out(label, n, skips, same, None) and got[0] in ("skipped", "absent"):
                continue
            if may_leave_out(label, n, {}, {}, focus) and got[0] in ("skipped", "absent"):
                unfocused.append(n)  # outside CRITEST_LIBVIRT_FOCUS
                continue
            if (label == "libvirt" and got[0] in ("skipped", "absent") and "process" in runs
                    and runs["process"].get(n, ("absent",))[0] != "passed"):
                not_run.append(n)  # left out (critest.sh): it fails the process run already
                continue
            regress.append((n, got))
        suite = [(n, v) for n, v in r.items() if n.startswith("[") and v[0] == "failed"]
        print(f"\n{label}: {len(regress)} spec(s) pass with runc but not with coffer")
        for n, (state, msg) in regress + suite:
            print(f"  {state.upper()} {n}\n      {msg[:500]}")
        if not_run:
            print(f"{label}: {len(not_run)} more not run, as they fail with the process backend")
        if unfocused:
            print(f"{label}: {len(unfocused)} more left out by CRITEST_LIBVIRT_FOCUS ({focus.pattern})")
        if regress or suite:
            rc = 1
        better = [n for n, v in r.items() if v[0] == "passed" and n in base and base[n][0] != "passed"]
        if better:
            print(f"{label}: passes where runc does not: " + "; ".join(better))
    return rc


if __name__ == "__main__":
    sys.exit(main())
