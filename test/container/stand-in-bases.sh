#!/usr/bin/env bash
# The base images the Dockerfile and compose.yaml name, built here from Debian packages because CI
# reaches no image registry. Each stand-in is tagged with the exact name the real files use, so they
# are built and run unchanged:
#   docker.io/library/node:24-bookworm-slim  Debian bookworm (mmdebstrap, minbase) + the Node binary
#                                            npm's `node` package installed in node_modules + npm,
#                                            laid out as the official image is (/usr/local, user node 1000)
#   docker.io/library/redis:7-bookworm       Debian bookworm + redis-server, /data for its files
#   docker.io/library/nginx:stable-bookworm  Debian bookworm + nginx-light, no default site
# Usage: test/container/stand-in-bases.sh PODMAN_COMMAND...   (run from the repository root)
set -euo pipefail
podman=("$@")
work=$(mktemp -d /var/tmp/key2oauth-bases-XXXXXX)
trap 'rm -rf "$work"' EXIT

node_binary=node_modules/node/bin/node
[ -x "$node_binary" ] || { echo "no $node_binary: run npm ci first" >&2; exit 1; }
# The npm this machine runs (its bin/npm-cli.js is what the npm command links to).
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "no npm at $npm_dir to put in the node stand-in" >&2; exit 1; }

mmdebstrap --quiet --variant=minbase --include=redis-server,nginx-light bookworm "$work/services" http://deb.debian.org/debian
rm -f "$work/services/etc/nginx/sites-enabled/default"
mkdir -p "$work/services/data"
tar -C "$work/services" -c . | "${podman[@]}" import --quiet --change 'CMD ["bash"]' - docker.io/library/redis:7-bookworm >/dev/null
"${podman[@]}" tag docker.io/library/redis:7-bookworm docker.io/library/nginx:stable-bookworm

mmdebstrap --quiet --variant=minbase bookworm "$work/node" http://deb.debian.org/debian
install -m 0755 "$node_binary" "$work/node/usr/local/bin/node"
mkdir -p "$work/node/usr/local/lib/node_modules"
cp -a "$npm_dir" "$work/node/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/node/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/node/usr/local/bin/npx"
chroot "$work/node" groupadd --gid 1000 node
chroot "$work/node" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
tar -C "$work/node" -c . | "${podman[@]}" import --quiet --change 'CMD ["node"]' - docker.io/library/node:24-bookworm-slim >/dev/null
limits=(--ulimit nofile=20000:20000 --ulimit nproc=16384:16384)
echo "stand-in bases: node $("${podman[@]}" run --rm "${limits[@]}" docker.io/library/node:24-bookworm-slim node --version)," \
  "npm $("${podman[@]}" run --rm "${limits[@]}" docker.io/library/node:24-bookworm-slim npm --version)"
