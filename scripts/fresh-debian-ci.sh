#!/usr/bin/env bash
# A fresh Debian bookworm (debootstrap minbase) with only Node added (copied from this machine), then
# the project's .ci/run on a clean clone inside it. Run as root on a Debian host with debootstrap;
# R (default /work/fresh) is the chroot. Keeps NODE_EXTRA_CA_CERTS (a registry proxy's certificate).
set -euo pipefail
R=${R:-/work/fresh}
if [ ! -x $R/bin/bash ]; then
  debootstrap --variant=minbase bookworm $R http://deb.debian.org/debian
fi
cp /etc/apt/apt.conf.d/99artifact-registry $R/etc/apt/apt.conf.d/ 2>/dev/null || true
cp /etc/apt/sources.list.d/* $R/etc/apt/sources.list.d/ 2>/dev/null || true
rm -f $R/etc/apt/sources.list
cp /etc/resolv.conf $R/etc/resolv.conf
# Node.js with npm (what the guide's fresh machine has), and this machine's npm settings.
cp /usr/bin/node $R/usr/bin/node
mkdir -p $R/usr/lib/node_modules $R/usr/include
cp -a /usr/lib/node_modules/npm $R/usr/lib/node_modules/
cp -a /usr/include/node $R/usr/include/ 2>/dev/null || true
ln -sf ../lib/node_modules/npm/bin/npm-cli.js $R/usr/bin/npm
ln -sf ../lib/node_modules/npm/bin/npx-cli.js $R/usr/bin/npx
mkdir -p $R/root && cp ~/.npmrc $R/root/.npmrc
mkdir -p $R/etc/ssl/certs $R/usr/local/share/ca-certificates && cp /etc/ssl/certs/ca-certificates.crt $R/etc/ssl/certs/ && cp /etc/ssl/certs/ca-certificates.crt $R/usr/local/share/ca-certificates/host-bundle.crt
for d in proc sys dev dev/pts dev/shm; do mkdir -p $R/$d; mountpoint -q $R/$d || mount --bind /$d $R/$d; done
mkdir -p $R/work/shared $R/work/cc
mountpoint -q $R/work/shared || mount --bind -o ro "$(cd "$(dirname "$0")/../../shared" && pwd)" $R/work/shared
rm -rf $R/work/cc && git clone -q "$(cd "$(dirname "$0")/.." && pwd)" $R/work/cc
echo "packages before: $(chroot $R dpkg-query -W | wc -l); node $(chroot $R node --version)"
chroot $R /usr/bin/env -i HOME=/root NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb /bin/bash -c 'cd /work/cc && time bash .ci/run'
