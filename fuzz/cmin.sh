#!/usr/bin/env bash
# Rebuild the saved corpus of one target from the inputs of local runs (work/TARGET), the
# seeds and the saved corpus: a greedy set cover of the coverage edges (per-file features from
# libFuzzer's set-cover merge, hit counters off), at most 100 files, each pick the one
# reaching the most edges not yet reached (the smaller on a tie). `regression-*` files, inputs that once crashed or hung a
# reader, are always kept as they are.
# Usage, after `cargo +nightly fuzz build -s none --release`:  fuzz/cmin.sh TARGET
set -euo pipefail
cd "$(dirname "$0")"
target=$1
max_files=100
bin=target/$(rustc -vV | sed -n 's/^host: //p')/release/$target
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/all" "$tmp/scratch" "work/$target" "corpus/$target"
find "work/$target" "seeds/$target" "corpus/$target" -type f ! -name 'regression-*' \
  -exec cp {} "$tmp/all/" \; 2>/dev/null
"$bin" -set_cover_merge=1 -use_counters=0 -timeout=10 -merge_control_file="$tmp/control" \
  "$tmp/scratch" "$tmp/all" 2>"$tmp/log" || { tail -20 "$tmp/log"; exit 1; }
find "corpus/$target" -type f ! -name 'regression-*' -delete
python3 - "$tmp/control" "corpus/$target" "$max_files" <<'PY'
import shutil, sys
control, out, max_files = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(control).read().splitlines()
n = int(lines[0])
names = lines[2:2 + n]
size, edges = {}, {}
for line in lines[2 + n:]:
    kind, idx, *rest = line.split()
    if kind == "STARTED":
        size[int(idx)] = int(rest[0])
    elif kind == "FT":
        edges[int(idx)] = set(rest)
total = set().union(*edges.values()) if edges else set()
reached, picked = set(), []
while len(picked) < max_files:
    best = max(edges, key=lambda i: (len(edges[i] - reached), -size.get(i, 0)), default=None)
    if best is None or not edges[best] - reached:
        break
    reached |= edges.pop(best)
    picked.append(best)
for i in picked:
    shutil.copy(names[i], out)
print(f"{out}: {len(picked)} files of {n} reach {len(reached)} of {len(total)} edges")
PY
echo "$target: $(find "corpus/$target" -type f | wc -l) files with the regression ones," \
  "$(cat "corpus/$target"/* | wc -c) bytes"
