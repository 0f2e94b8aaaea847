#!/usr/bin/env python3
"""The chart-testing way, as a baseline for the cluster tier: for every
chart x profile, one after another, what `ct install` does — a namespace,
`helm dependency build`, `helm install --wait`, `helm test`, `helm
uninstall`, delete the namespace — with the same values, overlay and
pre-made prod Secrets vitals uses, on the same cluster. It proves far less
(pods Ready and the chart's own test hooks; no probes called, no flows, no
HPA, no RBAC, no persistence), so it is a lower bound on ct's time.

Usage: bench/baseline.py [CHART/PROFILE ...]; prints a table and appends it
to bench/results.md with the total wall time."""
import datetime
import os
import pathlib
import secrets
import subprocess
import sys
import time

import yaml  # PyYAML, from Debian or PyPI

root = pathlib.Path(__file__).resolve().parent.parent
bin_dir = root / ".bin"
env = dict(os.environ, KUBECONFIG=os.environ.get(
    "KUBECONFIG", str(pathlib.Path(os.environ.get("VITALS_CACHE", pathlib.Path.home() / ".cache/vitals")) / "kubeconfig-vitals")))


def sh(*argv, check=True):
    r = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()[-800:]}")
    return r


def cells():
    for spec in sorted((root / "suites/specs").glob("*.yaml")):
        s = yaml.safe_load(spec.read_text())
        chart = (spec.parent / s["chart"]).resolve()
        for profile, values in s["profiles"].items():
            files = [chart / v for v in values]
            overlay = root / f"suites/overlays/{spec.stem}.yaml"
            if overlay.exists():
                files.append(overlay)
            yield spec.stem, profile, chart, files


def run_cell(name, profile, chart, files):
    ns = f"baseline-{name}-{profile}"[:63]
    helm = bin_dir / "helm"
    kubectl = bin_dir / "kubectl"
    t0 = time.monotonic()
    sh(kubectl, "create", "namespace", ns)
    secrets_file = root / f"suites/overlays/{name}.secrets.yaml"
    if profile == "prod" and secrets_file.exists():
        for s in yaml.safe_load(secrets_file.read_text()):
            args = [f"--from-literal={k}={secrets.token_urlsafe(18)}" for k in s["keys"]]
            sh(kubectl, "-n", ns, "create", "secret", "generic", s["name"], *args)
    sh(helm, "dependency", "build", chart, "--skip-refresh")
    t1 = time.monotonic()
    ok = True
    try:
        vals = sum((["-f", f] for f in files), [])
        sh(helm, "install", name, chart, "-n", ns, "--wait", "--wait-for-jobs", "--timeout", "10m", *vals)
        t2 = time.monotonic()
        sh(helm, "test", name, "-n", ns, "--timeout", "5m")
    except RuntimeError as e:
        ok = False
        t2 = time.monotonic()
        print(f"  {name}/{profile}: {e}", file=sys.stderr)
    t3 = time.monotonic()
    sh(helm, "uninstall", name, "-n", ns, "--wait", "--timeout", "5m", check=False)
    sh(kubectl, "delete", "namespace", ns, "--wait=true", "--timeout=5m", check=False)
    t4 = time.monotonic()
    return ok, t2 - t1, t3 - t2, t4 - t0


def main():
    only = set(sys.argv[1:])
    rows, start = [], time.monotonic()
    for name, profile, chart, files in cells():
        if only and f"{name}/{profile}" not in only:
            continue
        ok, install, test, total = run_cell(name, profile, chart, files)
        rows.append(f"| {name}/{profile} | {'pass' if ok else 'FAIL'} | {install:.0f} s | {test:.0f} s | {total:.0f} s |")
        print(rows[-1], flush=True)
    wall = time.monotonic() - start
    text = "\n".join([
        f"\n## {datetime.date.today()} baseline: ct-install-style serial install --wait + helm test",
        "",
        "| cell | result | install --wait | helm test | cell total (with uninstall) |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Total wall time: {wall:.0f} s for {len(rows)} cells, serial.",
        "",
    ])
    with open(root / "bench/results.md", "a") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
