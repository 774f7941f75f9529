#!/usr/bin/env bash
# Release steps: build and push the multi-platform image, sign it, package the Helm chart, push it to
# an OCI registry and sign it too. No credentials live in the repository: log in first
#   docker login REGISTRY          (or a CI token)     helm registry login REGISTRY
# and sign keyless in CI (cosign's OIDC flow, e.g. GitHub Actions' id-token) or with
# COSIGN_KEY=<file|kms://...> locally.
#
#   IMAGE_REPO=ghcr.io/acme/okta-token-hook CHART_REPO=oci://ghcr.io/acme/charts \
#     scripts/release.sh [--dry-run]
#
# The image version is package.json's version (= Chart.yaml appVersion); the chart version is
# Chart.yaml's version. --dry-run checks everything and prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1
: "${IMAGE_REPO:?set IMAGE_REPO, e.g. ghcr.io/acme/okta-token-hook}"
: "${CHART_REPO:?set CHART_REPO, e.g. oci://ghcr.io/acme/charts}"
[[ "$CHART_REPO" == oci://* ]] || { echo "release: CHART_REPO must be an oci:// URL" >&2; exit 2; }

version="$(node -p "require('./package.json').version")"
chart_version="$(sed -n 's/^version: *//p' charts/okta-token-hook/Chart.yaml)"
app_version="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/okta-token-hook/Chart.yaml)"
[ "$version" = "$app_version" ] || { echo "release: package.json version $version != Chart.yaml appVersion $app_version" >&2; exit 1; }
scripts/base-images.sh check
if [ "$dry_run" = 0 ] && [ -n "$(git status --porcelain)" ]; then
  echo "release: the working tree has uncommitted changes" >&2
  exit 1
fi
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
out="${RELEASE_DIR:-dist-release}"

run() {
  if [ "$dry_run" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
sign() {
  if [ -n "${COSIGN_KEY:-}" ]; then run cosign sign --yes --key "$COSIGN_KEY" "$1"; else run cosign sign --yes "$1"; fi
}

echo "release: image $IMAGE_REPO:$version, chart okta-token-hook $chart_version -> $CHART_REPO"
mkdir -p "$out"

# 1. Image: amd64 + arm64, OCI labels from the build args, pushed by tag; signed by digest.
run docker buildx build --platform linux/amd64,linux/arm64 \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created" \
  --tag "$IMAGE_REPO:$version" --metadata-file "$out/image-metadata.json" --push .
image_digest="sha256:<digest from $out/image-metadata.json>"
if [ "$dry_run" = 0 ]; then
  image_digest="$(node -p "require(require('node:path').resolve('$out/image-metadata.json'))['containerimage.digest']")"
fi
sign "$IMAGE_REPO@$image_digest"

# 2. Chart: packaged with the released versions, pushed as an OCI artifact, signed by digest.
run helm package charts/okta-token-hook --version "$chart_version" --app-version "$version" --destination "$out"
run helm push "$out/okta-token-hook-$chart_version.tgz" "$CHART_REPO" 2>&1 | tee "$out/chart-push.log"
chart_digest="sha256:<digest printed by helm push>"
if [ "$dry_run" = 0 ]; then
  chart_digest="$(sed -n 's/^Digest: //p' "$out/chart-push.log")"
fi
sign "${CHART_REPO#oci://}/okta-token-hook@$chart_digest"

echo "release: done. Verify with:"
echo "  cosign verify $IMAGE_REPO@$image_digest --certificate-identity <your CI workflow identity> --certificate-oidc-issuer <your OIDC issuer>"
echo "  helm install okta-token-hook $CHART_REPO/okta-token-hook --version $chart_version --set image.digest=$image_digest"
