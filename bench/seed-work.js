'use strict';
/**
 * The seed sample's work, shared by the two reference servers that do it (express-seed-server.js
 * and koa-floor-server.js) so they stay the same: a constant-time compare of the authorization
 * header with HOOK_SECRET, and one static `add` patch for the user read from the request.
 */
const { timingSafeEqual } = require('node:crypto');

const secret = Buffer.from(process.env.HOOK_SECRET || '');

function safeCompare(value) {
  const given = Buffer.from(String(value || ''));
  return given.length === secret.length && timingSafeEqual(given, secret);
}

function patchFor(body) {
  const claims = body && body.data && body.data.identity && body.data.identity.claims;
  const username = claims ? claims.preferred_username : undefined;
  return { commands: [{ type: 'com.okta.identity.patch', value: [{ op: 'add', path: '/claims/extPatientId', value: username ? '1234' : 'unknown' }] }] };
}

module.exports = { safeCompare, patchFor };
