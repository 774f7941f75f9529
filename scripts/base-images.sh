#!/usr/bin/env bash
# Base images of the Dockerfile: both are pinned by digest (ARG *_IMAGE + ARG *_IMAGE_DIGEST).
#
#   scripts/base-images.sh show            print the pinned references
#   scripts/base-images.sh check           fail unless every base image is pinned to a sha256 digest
#                                          and the build stage's Node.js version is .node-version's
#   scripts/base-images.sh pin             resolve the current digest of each tag and write it into
#                                          the Dockerfile (monthly, or when a base image CVE is fixed)
#   scripts/base-images.sh bump 24.22.3    move to another Node.js 24 release: .node-version, the
#                                          build image tag, then `pin`
#
# Resolving needs one of: docker buildx (imagetools), crane or skopeo, and access to the registries.
# The digest written is the multi-platform index digest, so amd64 and arm64 builds both stay pinned.
# After a bump: run `npm test` (CI installs the same Node.js from .node-version) and commit
# Dockerfile + .node-version together.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKERFILE=Dockerfile

arg() { sed -n "s/^ARG $1=//p" "$DOCKERFILE" | head -n 1; }
set_arg() { sed -i.bak "s|^ARG $1=.*|ARG $1=$2|" "$DOCKERFILE" && rm -f "$DOCKERFILE.bak"; }

resolve_digest() {
  local ref="$1" digest=""
  if command -v crane >/dev/null 2>&1; then
    digest="$(crane digest "$ref")"
  elif docker buildx version >/dev/null 2>&1; then
    digest="$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest}}' | sed -n 's/.*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n 1)"
  elif command -v skopeo >/dev/null 2>&1; then
    digest="$(skopeo inspect --raw "docker://$ref" | sha256sum | awk '{print "sha256:" $1}')"
  else
    echo "base-images: need crane, docker buildx or skopeo to resolve $ref" >&2
    return 1
  fi
  [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "base-images: could not resolve a digest for $ref (got '$digest')" >&2; return 1; }
  echo "$digest"
}

show() {
  echo "build:   $(arg BUILD_IMAGE)@$(arg BUILD_IMAGE_DIGEST)"
  echo "runtime: $(arg RUNTIME_IMAGE)@$(arg RUNTIME_IMAGE_DIGEST)"
  echo "node:    $(arg NODE_VERSION) (.node-version: $(cat .node-version))"
}

check() {
  local ok=0
  for name in BUILD_IMAGE RUNTIME_IMAGE; do
    if ! [[ "$(arg "${name}_DIGEST")" =~ ^sha256:[0-9a-f]{64}$ ]]; then
      echo "base-images: ${name} is not pinned to a sha256 digest" >&2
      ok=1
    fi
  done
  local node; node="$(cat .node-version)"
  [ "$(arg NODE_VERSION)" = "$node" ] || { echo "base-images: ARG NODE_VERSION $(arg NODE_VERSION) != .node-version $node" >&2; ok=1; }
  [ "$(arg BUILD_IMAGE)" = "node:${node}-trixie-slim" ] || { echo "base-images: BUILD_IMAGE must be node:${node}-trixie-slim" >&2; ok=1; }
  return "$ok"
}

pin() {
  for name in BUILD_IMAGE RUNTIME_IMAGE; do
    local ref digest
    ref="$(arg "$name")"
    digest="$(resolve_digest "$ref")"
    set_arg "${name}_DIGEST" "$digest"
    echo "base-images: $ref@$digest"
  done
}

bump() {
  local version="${1:?usage: scripts/base-images.sh bump <node-version, e.g. 24.22.3>}"
  [[ "$version" =~ ^24\.[0-9]+\.[0-9]+$ ]] || { echo "base-images: expected a Node.js 24 version (the runtime image is nodejs24)" >&2; exit 2; }
  echo "$version" > .node-version
  set_arg NODE_VERSION "$version"
  set_arg BUILD_IMAGE "node:${version}-trixie-slim"
  pin
}

case "${1:-show}" in
  show) show ;;
  check) check ;;
  pin) pin ;;
  bump) shift; bump "$@" ;;
  *) echo "usage: $0 show|check|pin|bump <node-version>" >&2; exit 2 ;;
esac
