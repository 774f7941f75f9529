/**
 * "What will the tokens contain?": runs the rules exactly as the service does (through `explain`,
 * which runs the engine and the Okta-safe builder), then applies the response with Okta's own
 * semantics (`applyOktaResponse`) to the tokens of the request. The answer is in claims, per
 * token, before and after, plus the lifetimes, or the deny message Okta returns to the client.
 * Pure: no I/O (lookups are whatever resolver the engine was built with).
 */
import { applyOktaResponse, mintedTokens, type MintedToken } from '../hook/okta-patch';
import type { JsonValue, TokenHookEvent, TokenKind } from '../hook/types';
import { isJsonObject } from '../shared/values';
import type { RulesEngine } from './engine';
import { explain, reportHeader, type ExplainOptions, type ExplainReport } from './explain';
import { TOKEN_LABEL } from './types';

export type DiffKind = 'added' | 'removed' | 'changed' | 'unchanged';

/** One claim (or member of an object claim) compared before and after. */
export interface ClaimDiff {
  /** `department`, `employee_profile.department`, `https://example.com/claims/tier`. */
  path: string;
  kind: DiffKind;
  before?: JsonValue;
  after?: JsonValue;
}

export interface TokenPreview {
  token: 'id' | 'access';
  /** False when the request mints no such token (nothing can be added to it). */
  minted: boolean;
  lifetime?: { before?: number; after?: number };
  before?: Record<string, JsonValue>;
  after?: Record<string, JsonValue>;
  /** Every claim of the result (and every removed one), top-level, members of changed objects flattened. */
  diff: ClaimDiff[];
}

export interface PreviewReport {
  rules: ExplainReport['rules'];
  request: ExplainReport['request'];
  /** What Okta does: mint patched or unchanged tokens, refuse them (deny), or drop the response (rejected). */
  outcome: 'patched' | 'unchanged' | 'denied' | 'rejected';
  deniedBy?: string;
  /** `error_description` the client receives when denied. */
  message?: string;
  /** Why Okta would discard the response (tokens issued unchanged). */
  rejected?: string;
  tokens: TokenPreview[];
  /** Changes the rules asked for that are not in the response, and why. */
  skipped: { token: 'id' | 'access'; claim: string; rule?: string; why: string }[];
  /** The per-rule report (`explain`) this preview was computed from. */
  explain: ExplainReport;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function memberPath(parent: string, key: string): string {
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b) && (a === undefined) === (b === undefined);
}

/** Deep-compares two claim values; objects present on both sides are compared member by member. */
function diffValue(path: string, before: JsonValue | undefined, after: JsonValue | undefined, out: ClaimDiff[]): void {
  if (before === undefined && after === undefined) return;
  if (before === undefined) out.push({ path, kind: 'added', after: after as JsonValue });
  else if (after === undefined) out.push({ path, kind: 'removed', before });
  else if (same(before, after)) out.push({ path, kind: 'unchanged', before, after });
  else if (isJsonObject(before) && isJsonObject(after)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    for (const key of keys) diffValue(memberPath(path, key), before[key] as JsonValue | undefined, after[key] as JsonValue | undefined, out);
  } else out.push({ path, kind: 'changed', before, after });
}

/** Claim-by-claim comparison of two claim sets (request order first, then added claims). */
export function diffClaims(before: Record<string, JsonValue>, after: Record<string, JsonValue>): ClaimDiff[] {
  const out: ClaimDiff[] = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) diffValue(key, before[key], after[key], out);
  return out;
}

function tokenPreview(kind: TokenKind, before: MintedToken | undefined, after: MintedToken | undefined): TokenPreview {
  const preview: TokenPreview = { token: TOKEN_LABEL[kind], minted: before !== undefined, diff: [] };
  if (!before) return preview;
  const end = after ?? before;
  preview.before = before.claims;
  preview.after = end.claims;
  if (before.lifetime !== undefined || end.lifetime !== undefined) preview.lifetime = { before: before.lifetime, after: end.lifetime };
  preview.diff = diffClaims(before.claims, end.claims);
  return preview;
}

/** Runs the rules like the service and applies the response like Okta. */
export async function preview(engine: RulesEngine, event: TokenHookEvent, options: ExplainOptions): Promise<PreviewReport> {
  const report = await explain(engine, event, options);
  const before = mintedTokens(event);
  const okta = applyOktaResponse(event, report.response);
  const after = okta.outcome === 'denied' ? undefined : okta.tokens;
  const result: PreviewReport = {
    rules: report.rules,
    request: report.request,
    outcome: okta.outcome,
    tokens: (['identity', 'access'] as const).map((kind) => tokenPreview(kind, before[kind], after?.[kind])),
    skipped: [],
    explain: report,
  };
  if (okta.outcome === 'denied') {
    result.message = okta.message;
    if (report.deniedBy) result.deniedBy = report.deniedBy;
  }
  if (okta.outcome === 'rejected') result.rejected = okta.reason;
  for (const rule of report.explained) {
    for (const change of rule.changes) {
      if (change.status !== 'skipped') continue;
      result.skipped.push({ token: change.token, claim: change.claim, rule: rule.name, why: change.why ?? change.reason ?? 'not in the response' });
    }
  }
  return result;
}

function show(value: JsonValue | undefined, max = 100): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const MARK: Record<DiffKind, string> = { added: '+', removed: '-', changed: '~', unchanged: ' ' };

/** One line per claim: `+ added`, `- removed`, `~ changed: before -> after`, unchanged ones indented. */
export function formatDiffLines(diff: readonly ClaimDiff[], indent = '  '): string[] {
  return diff.map((d) => {
    if (d.kind === 'changed') return `${indent}${MARK[d.kind]} ${d.path}: ${show(d.before)} -> ${show(d.after)}`;
    if (d.kind === 'removed') return `${indent}${MARK[d.kind]} ${d.path}: ${show(d.before)}`;
    return `${indent}${MARK[d.kind]} ${d.path}: ${show(d.after)}`;
  });
}

function lifetimeText(token: TokenPreview): string {
  const lifetime = token.lifetime;
  if (!lifetime) return 'lifetime not in the request';
  if (lifetime.before === lifetime.after) return `lifetime ${lifetime.before ?? '?'} s`;
  return `lifetime ${lifetime.before ?? '?'} s -> ${lifetime.after ?? '?'} s`;
}

/** The human-readable report printed by `okta-token-hook preview`. */
export function formatPreviewText(report: PreviewReport): string {
  const lines: string[] = reportHeader({ ...report, ruleSet: report.explain.ruleSet });
  switch (report.outcome) {
    case 'denied':
      lines.push(
        `Outcome:  DENIED by rule "${report.deniedBy ?? '?'}": Okta issues no token; the client gets error=server_error, error_description=${JSON.stringify(report.message)}`,
      );
      break;
    case 'rejected':
      lines.push(`Outcome:  REJECTED by Okta (${report.rejected ?? '?'}): the whole response is discarded and the tokens are issued unchanged`);
      break;
    case 'unchanged':
      lines.push('Outcome:  unchanged: Okta issues the tokens as they are in the request');
      break;
    default:
      lines.push('Outcome:  patched: Okta issues the tokens below');
  }
  for (const token of report.tokens) {
    const title = token.token === 'id' ? 'ID token' : 'Access token';
    lines.push('');
    if (!token.minted) {
      lines.push(`${title}: not minted in this call (no data.${token.token === 'id' ? 'identity' : 'access'} in the request)`);
      continue;
    }
    if (report.outcome === 'denied') {
      lines.push(`${title}: not issued (denied)`);
      continue;
    }
    const changed = token.diff.filter((d) => d.kind !== 'unchanged').length;
    lines.push(`${title} (${lifetimeText(token)}; ${changed} claim${changed === 1 ? '' : 's'} changed):`);
    lines.push(...formatDiffLines(token.diff));
  }
  if (report.skipped.length > 0) {
    lines.push('', 'Changes left out of the response (Okta would have rejected it, or a later rule won):');
    for (const skip of report.skipped) lines.push(`  - ${skip.token} token, ${skip.claim} (rule "${skip.rule ?? '?'}"): ${skip.why}`);
  }
  lines.push('', 'Legend: + added, - removed, ~ changed; run `okta-token-hook explain` for the per-rule view.');
  return `${lines.join('\n')}\n`;
}

/** `--json` form: the preview without the nested explain report's response duplicated. */
export function previewJson(report: PreviewReport): Record<string, unknown> {
  const { explain: explained, ...rest } = report;
  return { ...rest, rulesEvaluated: explained.explained, lookups: explained.lookups, response: explained.response };
}
