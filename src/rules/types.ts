/** The compiled, validated form of a rules file. Immutable once built; swapped whole on reload. */
import type { ClaimTarget } from '../hook/decision';
import type { JsonValue, TokenKind } from '../hook/types';
import type { LookupDefinition } from '../lookups/types';
import type { CompiledExpression } from './cel';

export type OnError = 'skip' | 'deny';

/** Token names as written in the rules file, and the `TokenKind` each maps to. */
export const FILE_TOKEN_NAMES = { id: 'identity', access: 'access' } as const satisfies Record<string, TokenKind>;
export type FileTokenName = keyof typeof FILE_TOKEN_NAMES;
export const TOKEN_LABEL: Record<TokenKind, FileTokenName> = { identity: 'id', access: 'access' };

export interface ClaimSpec {
  name: string;
  tokens: readonly TokenKind[];
  /** A member or element of the existing claim `name` (`member`, `index`, `append` in the file). */
  at?: ClaimTarget;
  /** Exactly one of `value` and `expr` is set. */
  value?: JsonValue;
  expr?: CompiledExpression;
  /** Lookups `expr` reads (`lookup.<name>`). */
  lookups: ReadonlySet<string>;
  /** Used instead of `expr`'s result when `expr` fails because a lookup it reads failed (`null`: set nothing). */
  fallback?: JsonValue;
  /** Position in the file, for messages: `claims[2]`. */
  field: string;
}

export interface RemoveSpec {
  name: string;
  tokens: readonly TokenKind[];
  at?: ClaimTarget;
  field: string;
}

export interface CompiledRule {
  /** 0-based position among all the rules loaded (unscoped first, then each set's). */
  index: number;
  /** Rules of a scoped set are named `<set>/<rule>`; unscoped rules of a single file keep their name. */
  name: string;
  /** The scoped rule set the rule belongs to; absent: applies to every call. */
  set?: string;
  description?: string;
  when?: CompiledExpression;
  claims: readonly ClaimSpec[];
  remove: readonly RemoveSpec[];
  lifetimes: readonly { token: TokenKind; seconds: number }[];
  onError: OnError;
  deny?: string;
  /** Every CEL variable the rule's expressions read (from the AST, at load time). */
  variables: ReadonlySet<string>;
  /** Lookups the rule's expressions read (`when` and claims), and those `when` reads. */
  lookups: ReadonlySet<string>;
  whenLookups: ReadonlySet<string>;
}

/**
 * A scoped group of rules (`ruleSets:` entry, or a file with `match:`). Per call, the first set
 * whose match holds is selected; its rules run after the unscoped ones.
 */
export interface RuleScope {
  name: string;
  description?: string;
  /** Where it was declared (messages): `rules.yaml`, `rules.d/portal.yaml`. */
  file: string;
  /** Each present criterion must hold (AND); a list holds when any item equals (OR). */
  issuers?: ReadonlySet<string>;
  authorizationServerIds?: ReadonlySet<string>;
  clientIds?: ReadonlySet<string>;
  when?: CompiledExpression;
}

export interface RuleSet {
  /** File name as given (used in messages). */
  file: string;
  /** Short sha256 of the file content. */
  version: string;
  rules: readonly CompiledRule[];
  /** The file's `lookups:`, validated (their files are read when the engine is built). */
  lookups: readonly LookupDefinition[];
  /** Scoped sets in selection order (empty: every rule applies to every call). */
  scopes: readonly RuleScope[];
}

/** A rules file that cannot be used; `errors` holds every problem found, one line each. */
export class RulesFileError extends Error {
  override name = 'RulesFileError';
  readonly errors: readonly string[];

  constructor(errors: readonly string[]) {
    super(errors.length === 1 ? errors[0] : `${errors.length} errors in rules file:\n${errors.join('\n')}`);
    this.errors = errors;
  }
}
