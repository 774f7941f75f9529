import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configReference, loadConfig } from '../src/config';

describe('configuration', () => {
  it('has working defaults for local development', () => {
    const config = loadConfig({});
    expect(config.server.port).toBe(8080);
    expect(config.metrics.port).toBe(9464);
    expect(config.server.bodyLimitBytes).toBe(1024 * 1024);
    expect(config.auth.header).toBe('authorization');
    expect(config.auth.mode).toBe('header');
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('reads every value from the environment map it is given, not from process.env', () => {
    process.env.HOOK_PORT = '1234';
    try {
      expect(loadConfig({}).server.port).toBe(8080);
      expect(loadConfig({ HOOK_PORT: '9000', LOG_LEVEL: 'debug', OAUTH_REQUIRED_SCOPES: 'a, b' }).server.port).toBe(9000);
      expect(loadConfig({ OAUTH_REQUIRED_SCOPES: 'okta.hooks, other' }).oauth.requiredScopes).toEqual(['okta.hooks', 'other']);
    } finally {
      delete process.env.HOOK_PORT;
    }
  });

  it.each([
    [{ HOOK_PORT: 'eighty' }, 'server.port'],
    [{ HOOK_PORT: '70000' }, 'server.port'],
    [{ LOG_LEVEL: 'loud' }, 'logging.level'],
    [{ NODE_ENV: 'staging' }, 'env'],
    [{ AUTH_MODE: 'basic' }, 'auth.mode'],
    [{ HOOK_AUTH_HEADER: 'bad header' }, 'auth.header'],
    [{ HOOK_DEADLINE_MS: '5000' }, 'server.deadlineMs'],
    [{ HOOK_DEBUG_CONTEXT: 'maybe' }, 'server.debugContext'],
  ])('rejects %p naming the key', (env, key) => {
    expect(() => loadConfig(env)).toThrow(key);
  });

  it('requires issuer and audience in oauth2 mode and only asymmetric algorithms', () => {
    expect(() => loadConfig({ AUTH_MODE: 'oauth2' })).toThrow(/OAUTH_ISSUER[\s\S]*OAUTH_AUDIENCE/);
    expect(() => loadConfig({ AUTH_MODE: 'either', OAUTH_ISSUER: 'https://i', OAUTH_AUDIENCE: 'a', OAUTH_ALGORITHMS: 'RS256,HS256' })).toThrow('"HS256" is not an asymmetric');
    expect(loadConfig({ AUTH_MODE: 'oauth2', OAUTH_ISSUER: 'https://i', OAUTH_AUDIENCE: 'a', OAUTH_ALGORITHMS: 'RS256,ES256' }).oauth.algorithms).toEqual(['RS256', 'ES256']);
  });

  it('rejects the metrics port equal to the hook port', () => {
    expect(() => loadConfig({ HOOK_PORT: '9000', METRICS_PORT: '9000' })).toThrow('METRICS_PORT');
  });

  it('never prints the HOOK_SECRET default or value in the reference', () => {
    expect(configReference()).toContain('| `HOOK_SECRET` | `auth.secret` | `(none)` |');
  });

  it('is documented in docs/reference/configuration.md: the config reference table matches the schema', () => {
    const readme = readFileSync(join(__dirname, '..', 'docs', 'reference', 'configuration.md'), 'utf8');
    expect(readme).toContain(configReference());
  });
});
