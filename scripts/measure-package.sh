#!/usr/bin/env bash
# What a new user gets: packs this checkout (build it first: npm run build), installs the tarball
# into a fresh app in a temp directory with no FACESENSE_* variables, an empty HOME (no model
# cache) and FACESENSE_OFFLINE=1, then reports the tarball size, the app's node_modules size, and
# the time to the first result of createAnalyzer() + analyze() (import included) and of the
# installed `facesense analyze` binary, and the installed `facesense models` listing.
#   bash scripts/measure-package.sh [image]   (default ../shared/media/multi_face.jpg)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
image="$(realpath "${1:-$root/../shared/media/multi_face.jpg}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
tgz="$(npm pack --ignore-scripts --silent --pack-destination "$work")"
echo "tarball: $tgz $(stat -c %s "$work/$tgz") bytes, $(tar tzf "$work/$tgz" | wc -l) files"
mkdir "$work/app" "$work/home"
cd "$work/app"
echo '{"name":"app","version":"1.0.0","private":true,"type":"module"}' > package.json
start=$(date +%s.%N)
# onnxruntime-node's postinstall would fetch CUDA libraries on linux/x64; facesense runs on the CPU.
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --silent "$work/$tgz"
echo "install: $(echo "$(date +%s.%N) - $start" | bc) s"
echo "node_modules: $(du -sb node_modules | cut -f1) bytes ($(du -sh node_modules | cut -f1)), $(ls node_modules | wc -l) top-level entries"
for p in facesense onnxruntime-node onnxruntime-web sharp vega vega-lite umap-js; do
  [ -d "node_modules/$p" ] && echo "  $p: $(du -sh "node_modules/$p" | cut -f1)" || echo "  $p: not installed"
done
cat > first.mjs <<'JS'
const t0 = performance.now();
const { createAnalyzer } = await import('facesense');
const a = await createAnalyzer();
const r = await a.analyze(process.argv[2]);
const ms = Math.round(performance.now() - t0);
console.log(JSON.stringify({ detector: a.detectorName, tasks: a.tasks.map((t) => t.task), faces: r.faces.length, emotion: r.faces.map((f) => f.attributes.emotion?.label), firstResultMs: ms }));
await a.dispose();
JS
run() { env -i PATH="$PATH" HOME="$work/home" FACESENSE_OFFLINE=1 "$@"; }
run node first.mjs "$image"
start=$(date +%s.%N)
run node_modules/.bin/facesense analyze --format csv "$image" > out.csv
head -2 out.csv | cut -c1-160
echo "facesense analyze (bin): $(echo "$(date +%s.%N) - $start" | bc) s"
run node_modules/.bin/facesense models > models.txt
head -14 models.txt
