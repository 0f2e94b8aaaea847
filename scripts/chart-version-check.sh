#!/usr/bin/env bash
# chart-version-check.sh [BASE_REF [CHART_DIR...]]
#
# Every chart whose files changed since BASE_REF must bump its Chart.yaml
# `version:`, upwards, to a semver. A chart is any directory under charts/
# with a Chart.yaml (charts/<c>, charts/vitals-common, and directory subcharts
# such as charts/<c>/charts/<sub>); a file belongs to every chart that holds
# it (a parent packages its subcharts). "Changed" compares the working tree
# (tracked and untracked files, .gitignore respected) with the merge base of
# BASE_REF and HEAD, so on a branch only the branch's own changes count.
#
#   BASE_REF   default: $BASE_REF, else origin/main if it exists, else HEAD~1
#   CHART_DIR  only check these charts and the charts nested in them
#              (e.g. charts/medplum); default: every chart
#
# Runs in the repository of the current directory. A chart that did not exist
# at the base (a new chart) needs no bump; a chart deleted since needs none.
# Exit: 0 all good (one summary line), 1 an offending chart (one line each),
# 2 usage (no git repository, unknown BASE_REF).
set -euo pipefail

die() { echo "chart-version-check: $*" >&2; exit 2; }

root=$(git rev-parse --show-toplevel 2>/dev/null) || die "not inside a git repository"
cd "$root"

base=${1:-${BASE_REF:-}}
[ $# -gt 0 ] && shift
if [ -z "$base" ]; then
  if git rev-parse --verify --quiet origin/main >/dev/null; then base=origin/main; else base=HEAD~1; fi
fi
base_commit=$(git rev-parse --verify --quiet "$base^{commit}") \
  || die "unknown base ref \`$base\` (fetch it, e.g. git fetch --tags origin, or pass another)"
# Diff against where this branch left BASE_REF, not against BASE_REF's tip.
since=$(git merge-base "$base_commit" HEAD 2>/dev/null || echo "$base_commit")

only=()
for d in "$@"; do only+=("${d%/}"); done

# The top-level `version:` of a Chart.yaml on stdin (quotes and comments off).
chart_version() {
  awk '/^version:/ {
         v = $0; sub(/^version:[[:space:]]*/, "", v); sub(/[[:space:]]+#.*$/, "", v)
         gsub(/^["'\'']|["'\'']$/, "", v); sub(/[[:space:]]+$/, "", v); print v; exit
       }'
}

semver_re='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'

# semver_cmp A B: prints -1, 0 or 1 by semver precedence (build metadata ignored).
semver_cmp() {
  awk -v a="$1" -v b="$2" '
    function cmp_id(x, y,   xn, yn) {
      xn = (x ~ /^[0-9]+$/); yn = (y ~ /^[0-9]+$/)
      if (xn && yn) return (x + 0 < y + 0) ? -1 : (x + 0 > y + 0)
      if (xn != yn) return xn ? -1 : 1
      return (x < y) ? -1 : (x > y)
    }
    function split_v(v, core, pre,   p) {
      sub(/\+.*/, "", v)
      p = index(v, "-")
      if (p) { pre[0] = substr(v, p + 1); v = substr(v, 1, p - 1) } else pre[0] = ""
      split(v, core, ".")
    }
    BEGIN {
      split_v(a, ca, pa); split_v(b, cb, pb)
      for (i = 1; i <= 3; i++) if (ca[i] + 0 != cb[i] + 0) { print (ca[i] + 0 < cb[i] + 0) ? -1 : 1; exit }
      if (pa[0] == pb[0]) { print 0; exit }
      if (pa[0] == "") { print 1; exit }   # a release outranks its pre-releases
      if (pb[0] == "") { print -1; exit }
      na = split(pa[0], xa, "."); nb = split(pb[0], xb, ".")
      for (i = 1; i <= na && i <= nb; i++) { c = cmp_id(xa[i], xb[i]); if (c) { print c; exit } }
      print (na < nb) ? -1 : (na > nb)
    }'
}

# Every directory under charts/ holding a Chart.yaml (now or at the base)
# that contains path $1, deepest first: a subchart's files are its parent's
# too, since the parent's package carries them.
owners_of() {
  local d=${1%/*}
  while [ "${d#charts/}" != "$d" ]; do
    if [ -f "$d/Chart.yaml" ] || git cat-file -e "$since:$d/Chart.yaml" 2>/dev/null; then
      echo "$d"
    fi
    d=${d%/*}
  done
}

selected() {
  [ ${#only[@]} -eq 0 ] && return 0
  local o
  for o in "${only[@]}"; do
    case $1 in "$o" | "$o"/*) return 0 ;; esac
  done
  return 1
}

# Changed paths: tracked changes (renames as delete + add) and untracked files.
declare -A files_of=()
order=()
while IFS= read -r -d '' path; do
  while IFS= read -r chart; do
    selected "$chart" || continue
    [ -n "${files_of[$chart]+x}" ] || order+=("$chart")
    files_of[$chart]+="${path#"$chart"/}"$'\n'
  done < <(owners_of "$path")
done < <({ git diff --no-renames --name-only -z "$since" -- charts/
           git ls-files --others --exclude-standard -z -- charts/; } | sort -zu)

bad=0
summary=()
for chart in "${order[@]}"; do
  if [ ! -f "$chart/Chart.yaml" ]; then
    summary+=("$chart removed"); continue
  fi
  now=$(chart_version <"$chart/Chart.yaml")
  if [ -z "$now" ]; then
    echo "$chart: Chart.yaml has no top-level \`version:\`"; bad=1; continue
  fi
  if ! [[ $now =~ $semver_re ]]; then
    echo "$chart: Chart.yaml version \"$now\" is not semver (MAJOR.MINOR.PATCH[-pre][+build])"; bad=1; continue
  fi
  if ! was_yaml=$(git show "$since:$chart/Chart.yaml" 2>/dev/null); then
    summary+=("$chart new at $now"); continue
  fi
  was=$(chart_version <<<"$was_yaml")
  if [ -z "$was" ] || ! [[ $was =~ $semver_re ]]; then
    # Nothing to compare with: the current version is valid, that is enough.
    summary+=("$chart ${was:-?} -> $now"); continue
  fi
  case $(semver_cmp "$now" "$was") in
    1) summary+=("$chart $was -> $now") ;;
    0)
      list=$(printf '%s' "${files_of[$chart]}" | awk 'NR <= 5 { out = out (NR > 1 ? ", " : "") $0 }
        END { if (NR > 5) out = out ", ... " NR - 5 " more"; print out }')
      echo "$chart: files changed ($list) but Chart.yaml version stayed $now; bump it"
      bad=1 ;;
    *)
      echo "$chart: Chart.yaml version went down from $was to $now; versions only go up"
      bad=1 ;;
  esac
done

ref_label="$base"
[ "$since" = "$base_commit" ] || ref_label="$base (merge base ${since:0:12})"
if [ "$bad" -ne 0 ]; then
  echo "chart-version-check: offending charts above (compared with $ref_label)" >&2
  exit 1
fi
if [ ${#summary[@]} -eq 0 ]; then
  echo "chart-version-check: no chart changed since $ref_label"
else
  printf -v joined '%s; ' "${summary[@]}"
  echo "chart-version-check: ${#summary[@]} changed chart(s) since $ref_label, each bumped: ${joined%; }"
fi
