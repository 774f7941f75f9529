/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // ESM-only dependencies (cel-js, jose) are transformed to CommonJS for jest; at runtime Node 20.19+ require()s them natively.
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@marcbachmann/cel-js|jose|@opentelemetry/otlp-exporter-base)/)'],
  testTimeout: 20000,
};
