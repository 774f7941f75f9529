# okta-token-hook container image.
#   docker build -t okta-token-hook:dev .
# Stages: `build` compiles TypeScript with all dependencies and bundles the two start-up files;
# `deps` installs production dependencies only; `compile-cache` starts the service once to produce
# Node's compile cache; the runtime is distroless Node.js 24 LTS on Debian 13 (no shell, no package
# manager), running as the non-root user 65532 with the app files owned by root (read-only to the
# process).
#
# Base images are pinned by digest. The Node.js version is the one in .node-version (CI tests on
# exactly that version). Bump both with `scripts/base-images.sh bump <node-version>` or refresh the
# digests of the current tags with `scripts/base-images.sh pin` (needs docker buildx, crane or
# skopeo); `scripts/base-images.sh check` verifies the pins. See docs/deployment.md.
ARG NODE_VERSION=24.21.0
ARG BUILD_IMAGE=node:24.21.0-trixie-slim
ARG BUILD_IMAGE_DIGEST=sha256:8ec5d7557396cfe32d21c3f9c13072355ceab22b584578ca4bb28af31120cffe
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot
ARG RUNTIME_IMAGE_DIGEST=sha256:774b7d020b24214835769e24c3544835526cd0288f0b094eae48e8b2c2429a79

FROM ${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/bundle.js scripts/compile-cache.js ./scripts/
# tsc, then dist/instrumentation.js and dist/main.js replaced by esbuild bundles (scripts/bundle.js):
# start-up reads two files instead of about a thousand (docs/performance.md, "Start-up").
RUN npm run build:bundle

FROM ${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The runtime image's own Node.js, to make the compile cache with (below).
FROM ${RUNTIME_IMAGE}@${RUNTIME_IMAGE_DIGEST} AS runtime-node

# Node's compile cache (V8 code for every module the service loads), made by starting the service
# once with the runtime's Node.js binary, in the runtime's layout (/app/dist, /app/node_modules), as
# the runtime's user: Node uses a cache only with the Node build and user id that wrote it, and each
# entry only for the same file path and contents (scripts/compile-cache.js). The same run writes the
# two bundles' own code cache (/app/.compile-cache/bundles, src/code-cache.ts), taken when the
# service exits, so it holds all the bytecode the start, the warm-up and the calls compiled.
# Shipped read-only; dist/entrypoint.js enables both.
FROM ${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST} AS compile-cache
WORKDIR /app
ENV NODE_ENV=production
COPY --from=runtime-node /nodejs /nodejs
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/scripts/compile-cache.js ./scripts/compile-cache.js
RUN mkdir /app/.compile-cache && chown 65532:65532 /app/.compile-cache
USER 65532:65532
# With the ENTRYPOINT's Node flags: Node keys the cache by the V8 flags that change generated code
# (scripts/compile-cache.js starts the service with the flags it was given).
RUN ["/nodejs/bin/node", "--max-semi-space-size=8", "scripts/compile-cache.js", "/app/.compile-cache"]

# Development image for `skaffold dev -p <kind|minikube>,dev` only (never the default target): all
# dependencies and the sources, compiled in the pod by tsc --watch, the service restarted by node
# --watch; skaffold syncs src/ changes into /app/src. Owned by the non-root user so it can compile.
FROM ${BUILD_IMAGE}@${BUILD_IMAGE_DIGEST} AS dev
WORKDIR /app
ENV NODE_ENV=development
COPY --chown=65532:65532 package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund && chown -R 65532:65532 /app
COPY --chown=65532:65532 tsconfig.json tsconfig.build.json ./
COPY --chown=65532:65532 src ./src
RUN npm run build && chown -R 65532:65532 /app/dist
USER 65532:65532
EXPOSE 8080 9464
CMD ["sh", "-c", "node_modules/.bin/tsc -p tsconfig.build.json --watch --preserveWatchOutput & exec node --watch --require ./dist/instrumentation.js dist/main.js"]

FROM ${RUNTIME_IMAGE}@${RUNTIME_IMAGE_DIGEST} AS runtime
ARG RUNTIME_IMAGE
ARG RUNTIME_IMAGE_DIGEST
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="okta-token-hook" \
      org.opencontainers.image.description="Okta token inline hook: declarative claim rules, Prometheus metrics, OpenTelemetry traces" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}" \
      org.opencontainers.image.base.digest="${RUNTIME_IMAGE_DIGEST}"
WORKDIR /app
ENV NODE_ENV=production
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=compile-cache /app/.compile-cache ./.compile-cache
USER 65532:65532
EXPOSE 8080 9464
# Node is PID 1 and receives SIGTERM directly (exec form, no shell, no npm).
# --max-semi-space-size: V8's young generation. Node 24 sizes it at up to 32 MB per semi-space (64 MB
# for the young generation); a hook call's garbage dies within milliseconds, and with 8 MB semi-spaces
# the service keeps the same CPU per call, a shorter p99 and 80+ MB less peak RSS
# (docs/performance.md, "Young generation"). npm run bench runs the service with these flags.
# dist/entrypoint.js
# dispatches on its arguments: none (the default) starts the service, loading the tracing bootstrap
# before the app so auto-instrumentation can patch modules as they are first required; any argument
# runs the `okta-token-hook` CLI instead, e.g.
#   docker run --rm -v "$PWD:/rules" IMAGE check /rules/rules.yaml
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "/app/dist/entrypoint.js"]
# No default arguments (explicit: an ENTRYPOINT resets any CMD inherited from the base image).
CMD []
