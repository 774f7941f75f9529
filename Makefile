# Maintenance targets (the everyday commands are npm scripts: npm test, npm start, npm run bench).
.PHONY: base-images-show base-images-check base-images-pin release release-dry-run

base-images-show:  ## Print the pinned base images
	scripts/base-images.sh show

base-images-check:  ## Fail unless both base images are pinned by digest (CI runs this through the tests)
	scripts/base-images.sh check

base-images-pin:  ## Resolve and pin the current digests of the base image tags (needs crane, docker buildx or skopeo)
	scripts/base-images.sh pin

release-dry-run:  ## Print the release commands (needs IMAGE_REPO and CHART_REPO)
	scripts/release.sh --dry-run

release:  ## Build, push and sign the image; package, push and sign the chart (needs IMAGE_REPO, CHART_REPO, registry logins)
	scripts/release.sh
