/**
 * Built-in request templates for `okta-token-hook test` and `preview --template`: realistic
 * payloads of each flow, copies of test/fixtures/okta (a test keeps them equal). They are JSON
 * files compiled into dist/, so the CLI works from the npm package and the container image, where
 * no fixture files ship.
 */
import type { TokenHookEvent } from '../../hook/types';
import { cloneJson } from '../../shared/values';
import authorizationCode from './templates/authorization-code.json';
import clientCredentials from './templates/client-credentials.json';
import implicit from './templates/implicit.json';
import preview from './templates/preview.json';
import refreshToken from './templates/refresh-token.json';

/** The fixture each template copies. */
export const TEMPLATE_SOURCES = {
  authorization_code: 'token-hook-authcode-full',
  refresh_token: 'token-hook-refresh',
  client_credentials: 'token-hook-client-credentials',
  implicit: 'token-hook-implicit',
  preview: 'token-hook-preview-no-identity',
} as const;

export type TemplateName = keyof typeof TEMPLATE_SOURCES;

const TEMPLATES: Record<TemplateName, unknown> = {
  authorization_code: authorizationCode,
  refresh_token: refreshToken,
  client_credentials: clientCredentials,
  implicit,
  preview,
};

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

/** A fresh deep copy of a template. */
export function template(name: TemplateName): TokenHookEvent {
  return cloneJson(TEMPLATES[name]) as TokenHookEvent;
}
