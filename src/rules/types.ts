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
  /** 0-based position in the file. */
  index: number;
  name: string;
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

export interface RuleSet {
  /** File name as given (used in messages). */
  file: string;
  /** Short sha256 of the file content. */
  version: string;
  rules: readonly CompiledRule[];
  /** The file's `lookups:`, validated (their files are read when the engine is built). */
  lookups: readonly LookupDefinition[];
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
