# okta-token-hook container image.
#   docker build -t okta-token-hook:dev .
# Stages: `build` compiles TypeScript with all dependencies; `deps` installs production
# dependencies only; the runtime is distroless Node.js 20 (no shell, no package manager), running
# as the non-root user 65532 with the app files owned by root (read-only to the process).
# Base images are pinned to precise tags; pin digests too in your CI (e.g. with Renovate).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="okta-token-hook" \
      org.opencontainers.image.description="Okta token inline hook: declarative claim rules, Prometheus metrics, OpenTelemetry traces" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs20-debian12:nonroot"
WORKDIR /app
ENV NODE_ENV=production
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 8080 9464
# Node is PID 1 and receives SIGTERM directly (exec form, no shell, no npm): the service turns
# readiness off, drains, flushes telemetry, then exits. The tracing bootstrap is loaded before the
# app so auto-instrumentation can patch modules as they are first required.
ENTRYPOINT ["/nodejs/bin/node"]
CMD ["--require", "/app/dist/instrumentation.js", "/app/dist/main.js"]
