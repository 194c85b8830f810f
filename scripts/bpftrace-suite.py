#!/usr/bin/env python3
"""Run bpftrace's own runtime test suite (tests/runtime of a bpftrace checkout) against kestrel.

bpftrace's test files are not part of kestrel; point this script at a local checkout:

    scripts/bpftrace-suite.py --bpftrace-src ~/src/bpftrace [--kestrel target/debug/kestrel]
                              [--filter 'basic\\.|printf\\.'] [--jobs 3] [--out results.txt]

It copies tests/runtime into a work directory, builds bpftrace's test programs there with cc
(tests/testprogs, tests/testlibs) and then runs every case through bpftrace's own engine
(tests/runtime/engine: its parser and its Runner.run_test), so a case passes or fails exactly
as bpftrace's CI would count it. kestrel stands in for bpftrace through a small wrapper that
drops bpftrace-only debug flags (--verify-llvm-ir). At the end it prints the engine's totals
and, separately, the count over the cases this kernel can run at all (cases whose probes
need kprobes, fentry/fexit, watchpoints, hardware counters or BPF iterators are set apart:
this kernel has none of those).
"""

import argparse
import contextlib
import io
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import types

# Probe types this kernel cannot attach (CONFIG_KPROBES off, fentry/LSM EPERM, no PMU).
UNRUNNABLE = re.compile(
    r"(?<![\w$@.])((kprobe|kretprobe|fentry|fexit|kfunc|kretfunc|watchpoint|asyncwatchpoint|"
    r"hardware|lsm)\b|(iter|k|kr|f|fr|h|w)\s*:(?!:))"
)


def looseversion_stub():
    """bpftrace's runner imports looseversion only to compare kernel versions."""
    mod = types.ModuleType("looseversion")

    class LooseVersion:
        def __init__(self, s):
            self.parts = [int(p) if p.isdigit() else p for p in re.split(r"[.\-+]", str(s))]

        def _key(self):
            return [p if isinstance(p, int) else -1 for p in self.parts]

        def __lt__(self, o):
            return self._key() < o._key()

        def __gt__(self, o):
            return self._key() > o._key()

    mod.LooseVersion = LooseVersion
    return mod


def build_testprogs(src, work):
    """Compile tests/testprogs and tests/testlibs the way bpftrace's CMake files do."""
    progs = os.path.join(work, "testprogs")
    libs = os.path.join(work, "testlibs")
    os.makedirs(progs, exist_ok=True)
    os.makedirs(libs, exist_ok=True)
    include = os.path.join(src, "tests", "include")
    libdir = os.path.join(src, "tests", "testlibs")
    built = failed = 0
    for name in sorted(os.listdir(libdir)):
        if not name.endswith(".c"):
            continue
        out = os.path.join(libs, "lib" + name[:-2] + ".so")
        if not os.path.exists(out):
            r = subprocess.run(["cc", "-g", "-O0", "-shared", "-fPIC", "-I", include, "-o", out,
                                os.path.join(libdir, name)], capture_output=True)
            if r.returncode == 0:
                os.chmod(out, 0o644)  # bpftrace tests trace non-executable libraries
        built += 1
    progdir = os.path.join(src, "tests", "testprogs")
    base = ["-g", "-O0", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer",
            "-I", include, "-I", libdir]
    for name in sorted(os.listdir(progdir)):
        stem, ext = os.path.splitext(name)
        if ext not in (".c", ".cpp"):
            continue
        cc = "c++" if ext == ".cpp" else "cc"
        for pie in (False, True):
            out = os.path.join(progs, stem + ("-pie" if pie else ""))
            if os.path.exists(out):
                continue
            flags = base + (["-fpie", "-pie"] if pie else ["-no-pie"])
            if stem == "uprobe_nofp":
                flags = ["-g", "-O1", "-fomit-frame-pointer", "-fno-optimize-sibling-calls",
                         "-I", include] + (["-fpie", "-pie"] if pie else ["-no-pie"])
            extra = ["-lpthread"]
            if stem == "usdt_lib":
                extra += ["-fPIC", "-L", libs, "-lusdt_tp", "-Wl,-rpath," + libs]
            r = subprocess.run([cc] + flags + ["-o", out, os.path.join(progdir, name)] + extra,
                               capture_output=True)
            if r.returncode == 0:
                built += 1
            else:
                failed += 1
    return built, failed


def make_wrapper(work, kestrel):
    path = os.path.join(work, "kestrel-as-bpftrace")
    with open(path, "w") as f:
        f.write("#!/bin/bash\n# bpftrace's engine passes its own debug flags; kestrel has none.\n"
                "args=()\nfor a in \"$@\"; do [ \"$a\" = --verify-llvm-ir ] || args+=(\"$a\"); done\n"
                f"exec {kestrel} \"${{args[@]}}\"\n")
    os.chmod(path, 0o755)
    return path


def run_one(test):
    """Run one case in a worker process; returns (suite.name, status, printed text)."""
    from runner import Runner  # noqa: E402 (imported after sys.path is set)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            status = Runner.run_test(test)
        except Exception as e:  # the engine raises on malformed cases
            print(f"[  ERROR   ] {test.suite}.{test.name}: {e}")
            status = Runner.FAIL
    return f"{test.suite}.{test.name}", status, buf.getvalue()


def runnable(test):
    text = (test.prog or "") + " " + (test.run or "")
    return not UNRUNNABLE.search(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bpftrace-src", required=True, help="a bpftrace source checkout")
    ap.add_argument("--kestrel", default=os.path.join(os.path.dirname(__file__), "..",
                                                      "target", "debug", "kestrel"))
    ap.add_argument("--work", default="/tmp/kestrel-bpftrace-suite")
    ap.add_argument("--filter", default=".*", help="regex on SUITE.NAME")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", help="write every case's verdict and output here")
    args = ap.parse_args()

    src = os.path.abspath(args.bpftrace_src)
    work = os.path.abspath(args.work)
    kestrel = os.path.abspath(args.kestrel)
    os.makedirs(work, exist_ok=True)
    shutil.rmtree(os.path.join(work, "runtime"), ignore_errors=True)
    shutil.copytree(os.path.join(src, "tests", "runtime"), os.path.join(work, "runtime"))
    built, failed = build_testprogs(src, work)
    print(f"test programs: {built} built, {failed} failed to build")

    os.environ["BPFTRACE_RUNTIME_TEST_EXECUTABLE"] = make_wrapper(work, kestrel)
    os.environ.setdefault("RUNTIME_TEST_COLOR", "no")
    sys.modules.setdefault("looseversion", looseversion_stub())
    cm = types.ModuleType("cmake_vars")
    cm.LIBBCC_BPF_CONTAINS_RUNTIME = False
    sys.modules["cmake_vars"] = cm
    sys.path.insert(0, os.path.join(work, "runtime", "engine"))
    os.chdir(work)
    from parser import TestParser  # noqa: E402
    from runner import Runner  # noqa: E402

    tests = []
    for _suite, cases in sorted(TestParser.read_all(False)):
        for t in cases:
            if re.search(args.filter, f"{t.suite}.{t.name}"):
                tests.append(t)
    print(f"{len(tests)} cases")
    if args.jobs > 1:
        with multiprocessing.Pool(args.jobs) as pool:
            results = pool.map(run_one, tests, chunksize=1)
    else:
        results = [run_one(t) for t in tests]

    by_name = {f"{t.suite}.{t.name}": t for t in tests}
    passed = [n for n, s, _ in results if s == Runner.PASS]
    skipped = [n for n, s, _ in results if Runner.skipped(s)]
    failed_ = [n for n, s, _ in results if s in (Runner.FAIL, Runner.TIMEOUT)]
    can = [n for n, s, _ in results if not Runner.skipped(s) and runnable(by_name[n])]
    can_pass = [n for n in can if n in set(passed)]
    if args.out:
        with open(args.out, "w") as f:
            for n, s, text in results:
                verdict = "PASS" if s == Runner.PASS else ("SKIP" if Runner.skipped(s) else "FAIL")
                f.write(f"=== {verdict} {n}\n{text}\n")
    ran = len(results) - len(skipped)
    print(f"engine count: {len(passed)} passed of {ran} run ({len(skipped)} skipped, "
          f"{len(failed_)} failed or timed out)")
    pct = 100.0 * len(can_pass) / len(can) if can else 0.0
    print(f"cases this kernel can run (no kprobe/fentry/watchpoint/hardware/iter probes): "
          f"{len(can_pass)} passed of {len(can)} ({pct:.1f}%)")


if __name__ == "__main__":
    main()
