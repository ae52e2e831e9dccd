#!/usr/bin/env bash
# npm run package: a Debian package of this checkout for this machine's
# architecture, made with dpkg-deb (Debian's dpkg; nothing downloaded):
#   /opt/cordon/    the compiled TypeScript (dist/), bin/cordon.js, the console bundle,
#                   the production node_modules (copied from this checkout, as
#                   `npm ls --omit=dev` lists them), the prebuilt addon
#                   (native/build/Release/cordon_native.node, the CO-RE object embedded)
#                   and the object itself (bpf/cordon.bpf.o)
#   /usr/bin/cordon, /lib/systemd/system/cordon-{controller,enforcer}.service,
#   /etc/cordon/{controller,enforcer}.yaml (conffiles), the cordon user (sysusers.d).
# Installing it needs nodejs (>= 20), libbpf1 and libelf1: no clang, cmake or libbpf-dev.
#
# Usage: scripts/package.sh [--no-build] [--out DIR]   (default DIR: ./out)
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

build=1
out="$ROOT/out"
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    *) echo "package: unknown argument $1 (usage: scripts/package.sh [--no-build] [--out DIR])" >&2; exit 2 ;;
  esac
  shift
done

for tool in dpkg-deb dpkg npm node; do
  command -v "$tool" >/dev/null || { echo "package: $tool not found (dpkg-deb and dpkg come with Debian's dpkg)" >&2; exit 1; }
done

if [ "$build" = 1 ]; then
  echo "package: building the eBPF object, the addon, the TypeScript and the console" >&2
  npm run --silent build:bpf >&2
  npx cmake-js compile -d native --log-level error >/dev/null
  npm run --silent build:ts >&2
  npm run --silent build:console >&2
fi
for f in bpf/cordon.bpf.o native/build/Release/cordon_native.node dist/apps/cli/src/main.js apps/console/dist/app.js; do
  [ -e "$f" ] || { echo "package: $f is missing: run npm run build (or drop --no-build)" >&2; exit 1; }
done

version=$(node -p "require('./package.json').version")
arch=$(dpkg --print-architecture)
name="cordon_${version}_${arch}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/$name"
opt="$pkg/opt/cordon"
mkdir -p "$opt/bin" "$opt/native/build/Release" "$opt/bpf" "$opt/apps/console" \
  "$pkg/usr/bin" "$pkg/lib/systemd/system" "$pkg/etc/cordon" "$pkg/usr/lib/sysusers.d" "$pkg/usr/share/cordon" "$pkg/DEBIAN"

# The program: tsc output without the test helpers, the console, the addon and the object.
cp -a dist "$opt/dist"
rm -rf "$opt/dist/test" "$opt/dist/scripts/bench"
find "$opt/dist" -name '*.map' -delete
cp bin/cordon.js "$opt/bin/"
cp package.json README.md "$opt/"
cp -a apps/console/index.html apps/console/dist "$opt/apps/console/"
cp native/build/Release/cordon_native.node "$opt/native/build/Release/"
cp bpf/cordon.bpf.o "$opt/bpf/"
# proto/cordon/v1/control.ts reads its .proto beside the compiled file.
cp proto/cordon/v1/control.proto "$opt/dist/proto/cordon/v1/"

# Production node_modules: each package npm lists without dev dependencies, copied
# without its nested node_modules (those it needs are listed on their own line).
npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | node -e '
  const fs = require("fs"), path = require("path");
  const [root, dest] = process.argv.slice(1);
  const lines = fs.readFileSync(0, "utf8").split("\n").filter(Boolean);
  let n = 0;
  for (const abs of lines) {
    const rel = path.relative(root, abs);
    if (!rel.startsWith("node_modules" + path.sep)) continue;
    const real = fs.realpathSync(abs);
    fs.cpSync(real, path.join(dest, rel), {
      recursive: true, dereference: true,
      filter: (src) => src === real || !(path.basename(src) === "node_modules" || /\/build\/Release\/obj(\.target)?$/.test(src)),
    });
    n++;
  }
  process.stderr.write(`package: ${n} production packages copied\n`);
' "$ROOT" "$opt"

ln -s /opt/cordon/bin/cordon.js "$pkg/usr/bin/cordon"
install -m 0644 deploy/systemd/cordon-controller.service deploy/systemd/cordon-enforcer.service "$pkg/lib/systemd/system/"
install -m 0644 deploy/systemd/enforcer-netns.conf "$pkg/usr/share/cordon/"
install -m 0644 deploy/debian/controller.yaml deploy/debian/enforcer.yaml "$pkg/etc/cordon/"
install -m 0644 deploy/debian/sysusers.conf "$pkg/usr/lib/sysusers.d/cordon.conf"
install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm "$pkg/DEBIAN/"
printf '/etc/cordon/controller.yaml\n/etc/cordon/enforcer.yaml\n' > "$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" deploy/debian/control.in > "$pkg/DEBIAN/control"

mkdir -p "$out"
deb="$out/$name.deb"
dpkg-deb --root-owner-group -Z"${CORDON_DEB_COMPRESS:-gzip}" -z6 --build "$pkg" "$deb" >&2
echo "$deb"
