#!/usr/bin/env python3
"""The chart-testing way, as a baseline for the cluster tier: for every
chart x profile, one after another, what `ct install` does — a namespace,
`helm dependency build`, `helm install --wait`, `helm test`, `helm
uninstall`, delete the namespace — with the same values, overlay and
pre-made prod Secrets vitals uses, on the same cluster. It proves far less
(pods Ready and the chart's own test hooks; no probes called, no flows, no
HPA, no RBAC, no persistence), so it is a lower bound on ct's time.

`ct install`'s `--wait` hangs to its timeout on a cell whose
WaitForFirstConsumer claim no pod consumes until a CronJob runs: a real
weakness, kept as a finding, but no measure of speed. So the speed ratio is
reported two honest ways: per cell, only on cells both finish (vitals' time
for all its checks on that cell, run alone with `make e2e CHART= PROFILE=`,
against the baseline's install + test), and for the whole matrix against the
baseline's serial time projected from its passing cells (their mean x the
number of cells).

Usage: bench/baseline.py [--vitals-cells] [CHART/PROFILE ...]; prints a
table and appends it to bench/results.md with the Kubernetes version.
--vitals-cells also times each cell alone under vitals (the per-cell ratio);
E2E_MATRIX_SECONDS=<s> (from bench/matrix.sh) gives the whole-matrix ratio."""
import datetime
import os
import pathlib
import re
import secrets
import subprocess
import sys
import time

import yaml  # PyYAML, from Debian or PyPI

root = pathlib.Path(__file__).resolve().parent.parent
bin_dir = root / ".bin"


def kube_version():
    """The row of scripts/kubernetes-versions.tsv that K8S/E2E_K8S selects."""
    want = (os.environ.get("K8S") or os.environ.get("E2E_K8S") or "").lstrip("v")
    rows = [l.split("\t") for l in (root / "scripts/kubernetes-versions.tsv").read_text().splitlines()
            if l.strip() and not l.startswith("#")]
    for minor, version, *_ in rows:
        if not want or want in (minor, version.lstrip("v")):
            return minor, version
    sys.exit(f"bench/baseline.py: Kubernetes {want} is not in scripts/kubernetes-versions.tsv")


MINOR, VERSION = kube_version()
CLUSTER = os.environ.get("VITALS_CLUSTER", "vitals-" + MINOR.replace(".", "-"))
env = dict(os.environ, KUBECONFIG=os.environ.get(
    "KUBECONFIG", str(pathlib.Path(os.environ.get("VITALS_CACHE", pathlib.Path.home() / ".cache/vitals")) / f"kubeconfig-{CLUSTER}")))


def sh(*argv, check=True):
    r = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()[-800:]}")
    return r


CACHE = pathlib.Path(os.environ.get("VITALS_CACHE", pathlib.Path.home() / ".cache/vitals"))


def filled_overlay(chart):
    """The chart's test overlay with its image placeholders filled from
    images.env, as the runner fills it (suites/src/cell/overlay.rs): only
    the template is committed, the references come from the images built
    here."""
    template = root / f"suites/overlays/{chart}.yaml.in"
    if not template.exists():
        return None
    images = {}
    env = CACHE / "images.env"
    if env.exists():
        for line in env.read_text().splitlines():
            name, _, ref = line.partition("=")
            if name:
                images[name] = ref

    def ref(m):
        name, part = m.group(1), m.group(2)
        whole = images.get(name, f"vitals/{name}:unbuilt")
        repo, _, tag = whole.rpartition(":")
        return {"repository": repo, "tag": tag}.get(part, whole)

    text = re.sub(r"@([a-z0-9-]+)(?:\.(repository|tag))?@", ref, template.read_text())
    out = root / f"target/e2e/baseline/{chart}.overlay.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def cells():
    for spec in sorted((root / "suites/specs").glob("*.yaml")):
        s = yaml.safe_load(spec.read_text())
        chart = (spec.parent / s["chart"]).resolve()
        overlay = filled_overlay(spec.stem)
        for profile, values in s["profiles"].items():
            files = [chart / v for v in values]
            if overlay:
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


def vitals_cell(name, profile):
    """vitals' wall time for every check of one cell, run alone."""
    t0 = time.monotonic()
    r = subprocess.run(["make", "e2e", f"CHART={name}", f"PROFILE={profile}"], cwd=root,
                       env=env, capture_output=True, text=True)
    return r.returncode == 0, time.monotonic() - t0


def main():
    args = sys.argv[1:]
    with_vitals = "--vitals-cells" in args
    only = {a for a in args if a != "--vitals-cells"}
    rows, start, results = [], time.monotonic(), []
    for name, profile, chart, files in cells():
        if only and f"{name}/{profile}" not in only:
            continue
        ok, install, test, total = run_cell(name, profile, chart, files)
        v_ok, v_secs = vitals_cell(name, profile) if with_vitals else (None, None)
        results.append((ok, install + test, v_ok, v_secs))
        ratio = f"{(install + test) / v_secs:.2f}x" if ok and v_ok and v_secs else "-"
        vit = f"{v_secs:.0f} s ({'pass' if v_ok else 'FAIL'})" if v_secs else "-"
        rows.append(f"| {name}/{profile} | {'pass' if ok else 'FAIL (timeout)'} | {install:.0f} s | {test:.0f} s | {total:.0f} s | {vit} | {ratio} |")
        print(rows[-1], flush=True)
    wall = time.monotonic() - start
    passing = [t for ok, t, _, _ in results if ok]
    both = [(t, v) for ok, t, v_ok, v in results if ok and v_ok and v]
    lines = [
        f"\n## {datetime.date.today()} baseline on Kubernetes {VERSION}: ct-install-style serial install --wait + helm test",
        "",
        "| cell | baseline | install --wait | helm test | cell total (with uninstall) | vitals alone, every check | baseline / vitals |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Baseline wall time: {wall:.0f} s for {len(rows)} cells, serial; {len(rows) - len(passing)} timed out (`--wait` on a claim nothing consumes yet).",
    ]
    if both:
        lines.append(f"On the {len(both)} cells both finish: baseline install + test {sum(t for t, _ in both):.0f} s, "
                     f"vitals (every check, one cell at a time) {sum(v for _, v in both):.0f} s: "
                     f"{sum(t for t, _ in both) / sum(v for _, v in both):.2f}x.")
    if passing:
        projected = sum(passing) / len(passing) * len(rows)
        lines.append(f"Baseline projected from its passing cells: {projected:.0f} s for {len(rows)} cells (mean {sum(passing) / len(passing):.0f} s).")
        matrix = os.environ.get("E2E_MATRIX_SECONDS")
        if matrix:
            lines.append(f"Whole matrix under vitals (`make e2e`, every check): {float(matrix):.0f} s: "
                         f"{projected / float(matrix):.2f}x the projected baseline.")
    text = "\n".join(lines + [""])
    with open(root / "bench/results.md", "a") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
