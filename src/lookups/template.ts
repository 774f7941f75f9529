/**
 * Templates: literal text with `{CEL}` placeholders (`https://crm/users/{user.id}/tier`), used for
 * lookup URLs and header values. Parsed and compiled once at load time; rendered per request.
 * `{{` and `}}` are literal braces. URL placeholders are percent-encoded as one component, so a
 * value can never add a path segment, a query parameter or change the host.
 */
import type { Environment } from '@marcbachmann/cel-js';
import { compileExpression, type CompiledExpression } from '../rules/cel';
import type { LookupContext, Template } from './types';

export type TemplateParse = { ok: true; template: Template } | { ok: false; message: string };

/** Index of the `}` closing the placeholder opened at `start` (after `{`), skipping CEL strings and nested braces. */
function closingBrace(text: string, start: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

export function parseTemplate(env: Environment, source: string): TemplateParse {
  const parts: (string | CompiledExpression)[] = [];
  let literal = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '}') {
      if (source[i + 1] !== '}') return { ok: false, message: `unmatched "}" at column ${i + 1} (write "}}" for a literal brace)` };
      literal += '}';
      i++;
      continue;
    }
    if (ch !== '{') {
      literal += ch;
      continue;
    }
    if (source[i + 1] === '{') {
      literal += '{';
      i++;
      continue;
    }
    const end = closingBrace(source, i + 1);
    if (end === -1) return { ok: false, message: `unclosed "{" at column ${i + 1}` };
    const expressionText = source.slice(i + 1, end).trim();
    const compiled = compileExpression(env, expressionText, 'json');
    if (!compiled.ok) return { ok: false, message: `placeholder {${expressionText}}: ${compiled.message}` };
    if (compiled.expression.references.variables.has('lookup')) {
      return { ok: false, message: `placeholder {${expressionText}}: a lookup cannot read other lookups` };
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(compiled.expression);
    i = end;
  }
  if (literal) parts.push(literal);
  return { ok: true, template: { source, parts } };
}

/** Request variables the template's placeholders read. */
export function templateVariables(template: Template): Set<string> {
  const variables = new Set<string>();
  for (const part of template.parts) {
    if (typeof part !== 'string') for (const name of part.references.variables) variables.add(name);
  }
  return variables;
}

/** Why a lookup request could not be built; the message holds the expression, never its value. */
export class LookupInputError extends Error {
  override name = 'LookupInputError';
}

/** A placeholder result as text; null when the value is null (the lookup is then skipped). */
export function placeholderText(value: unknown, expression: string): string | null {
  switch (typeof value) {
    case 'string':
      return value;
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'number':
      if (!Number.isFinite(value)) throw new LookupInputError(`{${expression}} is not a finite number`);
      return String(value);
    default:
      if (value === null || value === undefined) return null;
      // cel-js `uint`.
      if ((value as { constructor?: { name?: string } }).constructor?.name === 'UnsignedInt') return String((value as { valueOf(): unknown }).valueOf());
      throw new LookupInputError(`{${expression}} is ${Array.isArray(value) ? 'a list' : 'a map'}, expected a string or number`);
  }
}

export function evaluate(expression: CompiledExpression, ctx: LookupContext): unknown {
  try {
    return expression.run(ctx);
  } catch (err) {
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'evaluation_error';
    throw new LookupInputError(`{${expression.source}} failed (${code})`);
  }
}

/**
 * Renders a template; `encode` percent-encodes placeholder values (URLs). Returns null when a
 * placeholder is null, or empty in a URL (nothing to look up). Throws `LookupInputError`.
 */
export function renderTemplate(template: Template, ctx: LookupContext, encode: boolean): string | null {
  let out = '';
  for (const part of template.parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const text = placeholderText(evaluate(part, ctx), part.source);
    // An empty URL component would address another resource (`/users//groups`): nothing to look up.
    if (text === null || (encode && text === '')) return null;
    out += encode ? encodeURIComponent(text) : text;
  }
  return out;
}
