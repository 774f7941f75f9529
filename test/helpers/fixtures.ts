import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenHookEvent } from '../../src/hook/types';

export const OKTA_FIXTURES = [
  'token-hook-authcode-full',
  'token-hook-minimal',
  'token-hook-client-credentials',
  'token-hook-refresh',
  'token-hook-implicit',
  'token-hook-uri-claims',
  'token-hook-preview-no-identity',
] as const;
export type OktaFixture = (typeof OKTA_FIXTURES)[number];

const cache = new Map<string, string>();

/** A fresh deep copy of an Okta payload from test/fixtures/okta. */
export function oktaFixture(name: OktaFixture): TokenHookEvent {
  let raw = cache.get(name);
  if (raw === undefined) {
    raw = readFileSync(join(__dirname, '..', 'fixtures', 'okta', `${name}.json`), 'utf8');
    cache.set(name, raw);
  }
  return JSON.parse(raw) as TokenHookEvent;
}
