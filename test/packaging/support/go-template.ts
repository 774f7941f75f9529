/**
 * A small, strict implementation of Go's text/template plus the Sprig/Helm functions our chart uses,
 * so the chart can be rendered and its output validated on machines without `helm`.
 *
 * It follows Go's semantics where they matter for chart bugs: trim markers, variable scoping, truth
 * rules, lazy and/or, field access on nil is an error, comparisons of int with float are an error,
 * and numbers from values files are float64 (printed with %v, so 1048576 prints as 1.048576e+06 unless
 * passed through `int`, exactly as in Helm). Anything outside the subset (an unknown function or
 * keyword) throws instead of guessing, so a template that renders here uses only understood features.
 */
import { createHash } from 'node:crypto';
import YAML from 'yaml';

/** A Go integer (the result of `int`, `add`, `mul`, `len`), as opposed to a float64 from YAML. */
export class GoInt {
  constructor(readonly value: number) {}
}

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** Raised by `fail`: the message Helm would print. */
export class FailError extends TemplateError {
  override name = 'FailError';
}

type Value = unknown;

// ---------------------------------------------------------------- lexing

type Piece =
  | { kind: 'text'; text: string }
  | { kind: 'action'; body: string; line: number }
  | { kind: 'comment' };

function findActionEnd(src: string, from: number): number {
  let i = from;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '"') {
      i++;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      i++;
    } else if (ch === '`') {
      i = src.indexOf('`', i + 1) + 1;
      if (i === 0) return -1;
    } else if (src.startsWith('}}', i)) {
      return i;
    } else {
      i++;
    }
  }
  return -1;
}

function lex(src: string, name: string): Piece[] {
  const pieces: Piece[] = [];
  let pos = 0;
  let trimNext = false;
  while (pos < src.length) {
    const open = src.indexOf('{{', pos);
    let text = open < 0 ? src.slice(pos) : src.slice(pos, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      pieces.push({ kind: 'text', text });
      break;
    }
    const line = src.slice(0, open).split('\n').length;
    let bodyStart = open + 2;
    // Go's left trim marker is "-" followed by one white-space character.
    const leftTrim = src[bodyStart] === '-' && /[ \t\r\n]/.test(src[bodyStart + 1] ?? '');
    if (leftTrim) {
      text = text.replace(/\s+$/, '');
      bodyStart += 2;
    }
    pieces.push({ kind: 'text', text });
    if (src.startsWith('/*', bodyStart)) {
      const commentEnd = src.indexOf('*/', bodyStart + 2);
      if (commentEnd < 0) throw new TemplateError(`${name}:${line}: unclosed comment`);
      const close = /^([ \t\r\n]-}}|}})/.exec(src.slice(commentEnd + 2));
      if (!close) throw new TemplateError(`${name}:${line}: comment ends before closing delimiter`);
      trimNext = close[1] !== '}}';
      pieces.push({ kind: 'comment' });
      pos = commentEnd + 2 + close[1]!.length;
      continue;
    }
    const end = findActionEnd(src, bodyStart);
    if (end < 0) throw new TemplateError(`${name}:${line}: unclosed action`);
    let body = src.slice(bodyStart, end);
    if (/[ \t\r\n]-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    pieces.push({ kind: 'action', body: body.trim(), line });
    pos = end + 2;
  }
  return pieces;
}

// ---------------------------------------------------------------- expression parsing

type Operand =
  | { type: 'literal'; value: Value }
  | { type: 'dot'; fields: string[] }
  | { type: 'var'; name: string; fields: string[] }
  | { type: 'ident'; name: string }
  | { type: 'paren'; pipeline: Pipeline; fields: string[] };

interface Command {
  operands: Operand[];
}

interface Pipeline {
  decl?: { vars: string[]; op: ':=' | '=' };
  commands: Command[];
}

type Token = ({ t: 'str'; v: string } | { t: 'num'; v: number | GoInt } | { t: 'word'; v: string } | { t: 'punct'; v: string }) & {
  /** White space before the token: `(x).Field` is a field access, `(x) .Field` two operands. */
  spaced?: boolean;
};

function tokenize(body: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let spaced = false;
  const push = (token: Token): void => {
    tokens.push({ ...token, spaced });
    spaced = false;
  };
  while (i < body.length) {
    const ch = body[i]!;
    if (/\s/.test(ch)) {
      spaced = true;
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < body.length && body[j] !== '"') j += body[j] === '\\' ? 2 : 1;
      if (j >= body.length) throw new TemplateError(`${where}: unterminated string`);
      push({ t: 'str', v: JSON.parse(body.slice(i, j + 1).replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string });
      i = j + 1;
    } else if (ch === '`') {
      const j = body.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(`${where}: unterminated raw string`);
      push({ t: 'str', v: body.slice(i + 1, j) });
      i = j + 1;
    } else if (body.startsWith(':=', i)) {
      push({ t: 'punct', v: ':=' });
      i += 2;
    } else if ('()|=,'.includes(ch)) {
      push({ t: 'punct', v: ch });
      i++;
    } else if (/[-0-9]/.test(ch) && /^-?[0-9]/.test(body.slice(i))) {
      const m = /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(body.slice(i))!;
      // Go: an integer constant is an int, anything with a fraction or exponent a float64.
      push({ t: 'num', v: /^-?[0-9]+$/.test(m[0]) ? new GoInt(Number(m[0])) : Number(m[0]) });
      i += m[0].length;
    } else {
      const m = /^[$.]?[A-Za-z0-9_$]*(\.[A-Za-z0-9_]+)*\.?/.exec(body.slice(i));
      if (!m || m[0].length === 0) throw new TemplateError(`${where}: unexpected character "${ch}"`);
      push({ t: 'word', v: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

class ExprParser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly where: string,
  ) {}

  done(): boolean {
    return this.pos >= this.tokens.length;
  }

  peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  pipeline(stopAtParen = false): Pipeline {
    const pipeline: Pipeline = { commands: [] };
    // Declarations: `$x :=` / `$x =` / `$i, $e :=`
    const save = this.pos;
    const vars: string[] = [];
    while (this.peek()?.t === 'word' && (this.peek()!.v as string).startsWith('$') && !(this.peek()!.v as string).includes('.')) {
      vars.push(this.tokens[this.pos++]!.v as string);
      const next = this.peek();
      if (next?.t === 'punct' && next.v === ',') {
        this.pos++;
        continue;
      }
      if (next?.t === 'punct' && (next.v === ':=' || next.v === '=')) {
        this.pos++;
        pipeline.decl = { vars, op: next.v };
      }
      break;
    }
    if (!pipeline.decl) this.pos = save;
    let command: Command = { operands: [] };
    while (!this.done()) {
      const token = this.peek()!;
      if (token.t === 'punct' && token.v === ')') {
        if (!stopAtParen) throw new TemplateError(`${this.where}: unexpected ")"`);
        break;
      }
      if (token.t === 'punct' && token.v === '|') {
        this.pos++;
        if (command.operands.length === 0) throw new TemplateError(`${this.where}: missing command before "|"`);
        pipeline.commands.push(command);
        command = { operands: [] };
        continue;
      }
      command.operands.push(this.operand());
    }
    if (command.operands.length === 0) throw new TemplateError(`${this.where}: missing value for command`);
    pipeline.commands.push(command);
    return pipeline;
  }

  private operand(): Operand {
    const token = this.tokens[this.pos++]!;
    if (token.t === 'str' || token.t === 'num') return { type: 'literal', value: token.v };
    if (token.t === 'punct') {
      if (token.v !== '(') throw new TemplateError(`${this.where}: unexpected "${token.v}"`);
      const inner = this.pipeline(true);
      const close = this.tokens[this.pos++];
      if (!close || close.t !== 'punct' || close.v !== ')') throw new TemplateError(`${this.where}: unclosed "("`);
      let fields: string[] = [];
      const next = this.peek();
      if (next?.t === 'word' && !next.spaced && next.v.startsWith('.') && next.v !== '.') {
        fields = next.v.slice(1).split('.');
        this.pos++;
      }
      return { type: 'paren', pipeline: inner, fields };
    }
    const word = token.v;
    if (word === 'true' || word === 'false') return { type: 'literal', value: word === 'true' };
    if (word === 'nil') return { type: 'literal', value: null };
    if (word === '.') return { type: 'dot', fields: [] };
    if (word.startsWith('.')) return { type: 'dot', fields: word.slice(1).split('.') };
    if (word.startsWith('$')) {
      const [name, ...fields] = word.split('.');
      return { type: 'var', name: name!, fields };
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(word)) return { type: 'ident', name: word };
    throw new TemplateError(`${this.where}: bad operand "${word}"`);
  }
}

function parsePipeline(body: string, where: string): Pipeline {
  const parser = new ExprParser(tokenize(body, where), where);
  const pipeline = parser.pipeline();
  if (!parser.done()) throw new TemplateError(`${where}: unexpected tokens after pipeline`);
  return pipeline;
}

// ---------------------------------------------------------------- template tree

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: Pipeline; where: string }
  | { kind: 'if' | 'with'; pipeline: Pipeline; body: Node[]; elseBody: Node[]; where: string }
  | { kind: 'range'; pipeline: Pipeline; body: Node[]; elseBody: Node[]; where: string };

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

function firstWord(body: string): string {
  return /^[A-Za-z_]+/.exec(body)?.[0] ?? '';
}

class TreeParser {
  private pos = 0;
  constructor(
    private readonly pieces: Piece[],
    private readonly name: string,
    private readonly defines: Map<string, Node[]>,
  ) {}

  parseTop(): Node[] {
    const { nodes, terminator } = this.list();
    if (terminator) throw new TemplateError(`${this.name}: unexpected {{${terminator.body}}} at line ${terminator.line}`);
    return nodes;
  }

  /** Parses nodes until {{end}} or {{else ...}} (returned as terminator) or the end of input. */
  private list(): { nodes: Node[]; terminator?: { body: string; line: number } } {
    const nodes: Node[] = [];
    while (this.pos < this.pieces.length) {
      const piece = this.pieces[this.pos++]!;
      if (piece.kind === 'comment') continue;
      if (piece.kind === 'text') {
        if (piece.text) nodes.push({ kind: 'text', text: piece.text });
        continue;
      }
      const where = `${this.name}:${piece.line}`;
      const keyword = firstWord(piece.body);
      if (keyword === 'end' || keyword === 'else') return { nodes, terminator: { body: piece.body, line: piece.line } };
      if (keyword === 'if' || keyword === 'with' || keyword === 'range') {
        nodes.push(this.control(keyword, piece.body.slice(keyword.length), where));
      } else if (keyword === 'define') {
        const defineName = tokenize(piece.body.slice('define'.length), where);
        if (defineName.length !== 1 || defineName[0]!.t !== 'str') throw new TemplateError(`${where}: bad define`);
        const { nodes: body, terminator } = this.list();
        if (!terminator || firstWord(terminator.body) !== 'end') throw new TemplateError(`${where}: define without end`);
        this.defines.set(defineName[0]!.v as string, body);
      } else if (KEYWORDS.has(keyword)) {
        throw new TemplateError(`${where}: "${keyword}" is not supported by this renderer`);
      } else {
        nodes.push({ kind: 'action', pipeline: parsePipeline(piece.body, where), where });
      }
    }
    return { nodes };
  }

  private control(kind: 'if' | 'with' | 'range', rest: string, where: string): Node {
    const pipeline = parsePipeline(rest, where);
    const { nodes: body, terminator } = this.list();
    if (!terminator) throw new TemplateError(`${where}: ${kind} without end`);
    let elseBody: Node[] = [];
    const termWord = firstWord(terminator.body);
    if (termWord === 'else') {
      const elseRest = terminator.body.slice(4).trim();
      const elseWhere = `${this.name}:${terminator.line}`;
      if (elseRest.startsWith('if ') || elseRest.startsWith('with ')) {
        // `else if` / `else with`: a nested control whose {{end}} also closes this one.
        const nestedKind = firstWord(elseRest) as 'if' | 'with';
        elseBody = [this.control(nestedKind, elseRest.slice(nestedKind.length), elseWhere)];
      } else if (elseRest === '') {
        const { nodes, terminator: end } = this.list();
        if (!end || firstWord(end.body) !== 'end') throw new TemplateError(`${elseWhere}: else without end`);
        elseBody = nodes;
      } else {
        throw new TemplateError(`${elseWhere}: bad else`);
      }
    } else if (terminator.body !== 'end') {
      throw new TemplateError(`${where}: bad end "${terminator.body}"`);
    }
    return { kind, pipeline, body, elseBody, where };
  }
}

// ---------------------------------------------------------------- values, truth, printing

function isMap(v: Value): v is Record<string, Value> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof GoInt);
}

/** Go's template truth: false, 0, nil, empty string/slice/map are false. */
export function truth(v: Value): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (v instanceof GoInt) return v.value !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/**
 * Go's %v for a float64: strconv's shortest digits, in exponent form when the decimal exponent is
 * below -4 or at least 6 (so Helm prints 1048576 from a values file as 1.048576e+06).
 */
export function formatFloat(f: number): string {
  if (!Number.isFinite(f)) return f > 0 ? '+Inf' : f < 0 ? '-Inf' : 'NaN';
  if (f === 0) return Object.is(f, -0) ? '-0' : '0';
  const [mantissa, exponentText] = f.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  return f.toFixed(Math.max(0, (mantissa.split('.')[1]?.length ?? 0) - exponent));
}

/** fmt's %v / Sprig's strval for the values templates handle. */
export function printValue(v: Value): string {
  if (v === null || v === undefined) return '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (v instanceof GoInt) return String(v.value);
  if (typeof v === 'number') return formatFloat(v);
  if (Array.isArray(v)) return `[${v.map(printValue).join(' ')}]`;
  if (isMap(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${printValue(v[k])}`).join(' ')}]`;
  return String(v);
}

function toNumber(v: Value, fn: string): number {
  if (v instanceof GoInt) return v.value;
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'string' && /^-?[0-9]+$/.test(v)) return Number(v);
  if (v === null || v === undefined || v === '') return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new TemplateError(`${fn}: cannot convert ${printValue(v)} to a number`);
}

function toFloat(v: Value, fn: string): number {
  if (v instanceof GoInt) return v.value;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(v)) return Number(v);
  if (v === null || v === undefined || v === '') return 0;
  throw new TemplateError(`${fn}: cannot convert ${printValue(v)} to a float`);
}

/** reflect.Kind name of a value as Helm sees it. */
function goKind(v: Value): string {
  if (v instanceof GoInt) return 'int';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'slice';
  if (isMap(v)) return 'map';
  return 'invalid';
}

function asList(v: Value, fn: string): Value[] {
  if (Array.isArray(v)) return v;
  if (v === null || v === undefined) return [];
  throw new TemplateError(`${fn}: ${printValue(v)} is not a list`);
}

/** Go RE2 syntax as a JavaScript RegExp source (the subset our templates use is identical). */
function goRegex(re: Value): string {
  const source = typeof re === 'string' ? re : String(re);
  if (/\(\?P?</.test(source)) throw new TemplateError(`regex ${source}: named groups are not supported here`);
  return source;
}

function goQuote(s: string): string {
  // strconv.Quote: escapes backslash, quote and control characters.
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function sprintf(format: string, args: Value[]): string {
  let argIndex = 0;
  return format.replace(/%([-+# 0]*[0-9]*)([sdvqt%])/g, (_m, _flags: string, verb: string) => {
    if (verb === '%') return '%';
    const arg = args[argIndex++];
    switch (verb) {
      case 's':
      case 'v':
      case 't':
        return printValue(arg);
      case 'd':
        if (!(arg instanceof GoInt)) return `%!d(${typeof arg === 'number' ? 'float64' : typeof arg}=${printValue(arg)})`;
        return String(arg.value);
      case 'q':
        return goQuote(printValue(arg));
      default:
        throw new TemplateError(`printf: verb %${verb} not supported`);
    }
  });
}

function basicKind(v: Value): string {
  if (v instanceof GoInt) return 'int';
  if (typeof v === 'number') return 'float';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (v === null || v === undefined) return 'nil';
  return 'other';
}

function compare(fn: string, a: Value, b: Value): number {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== kb) throw new TemplateError(`${fn}: incompatible types for comparison (${ka} and ${kb})`);
  const x = a instanceof GoInt ? a.value : (a as number | string | boolean);
  const y = b instanceof GoInt ? b.value : (b as number | string | boolean);
  if (ka === 'bool' || ka === 'nil' || ka === 'other') {
    if (fn !== 'eq' && fn !== 'ne') throw new TemplateError(`${fn}: invalid type for comparison`);
    return x === y ? 0 : 1;
  }
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Helm's toYaml: sigs.k8s.io/yaml (JSON-ordered keys: sorted), block style, trailing newline trimmed. */
export function toYaml(v: Value): string {
  const plain = toPlain(v);
  if (plain === null || plain === undefined) return 'null';
  const doc = new YAML.Document(plain, { sortMapEntries: true, version: '1.1' });
  return doc.toString({ lineWidth: 0, indentSeq: false }).replace(/\n$/, '');
}

function toPlain(v: Value): Value {
  if (v instanceof GoInt) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

function indent(spaces: number, s: string): string {
  const pad = ' '.repeat(spaces);
  return pad + s.replace(/\n/g, `\n${pad}`);
}

// ---------------------------------------------------------------- evaluation

type Scope = Map<string, Value>[];

type Fn = (...args: Value[]) => Value;

export class Engine {
  readonly defines = new Map<string, Node[]>();
  private readonly functions: Record<string, Fn>;

  constructor() {
    const str = (v: Value): string => (v === null || v === undefined ? '' : printValue(v));
    this.functions = {
      // Go builtins (and/or are lazy special forms, see callCommand)
      not: (v) => !truth(v),
      eq: (a, ...bs) => bs.some((b) => compare('eq', a, b) === 0),
      ne: (a, b) => compare('ne', a, b) !== 0,
      lt: (a, b) => compare('lt', a, b) < 0,
      le: (a, b) => compare('le', a, b) <= 0,
      gt: (a, b) => compare('gt', a, b) > 0,
      ge: (a, b) => compare('ge', a, b) >= 0,
      len: (v) => {
        if (typeof v === 'string' || Array.isArray(v)) return new GoInt(v.length);
        if (isMap(v)) return new GoInt(Object.keys(v).length);
        throw new TemplateError(`len of ${printValue(v)}`);
      },
      printf: (format, ...args) => sprintf(String(format), args),
      print: (...args) => args.map(str).join(''),
      // Sprig / Helm
      default: (dflt, ...given) => (given.length === 0 || !truth(given[0]) ? dflt : given[0]),
      empty: (v) => !truth(v),
      quote: (...args) => args.filter((a) => a !== null && a !== undefined).map((a) => goQuote(str(a))).join(' '),
      squote: (...args) => args.filter((a) => a !== null && a !== undefined).map((a) => `'${str(a)}'`).join(' '),
      int: (v) => new GoInt(toNumber(v, 'int')),
      int64: (v) => new GoInt(toNumber(v, 'int64')),
      add: (...args) => new GoInt(args.reduce<number>((sum, a) => sum + toNumber(a, 'add'), 0)),
      mul: (first, ...rest) => new GoInt(rest.reduce<number>((p, a) => p * toNumber(a, 'mul'), toNumber(first, 'mul'))),
      trunc: (n, s) => {
        const count = toNumber(n, 'trunc');
        const text = str(s);
        if (count >= 0) return text.length > count ? text.slice(0, count) : text;
        return text.length > -count ? text.slice(text.length + count) : text;
      },
      trimSuffix: (suffix, s) => (str(s).endsWith(str(suffix)) && str(suffix) ? str(s).slice(0, -str(suffix).length) : str(s)),
      trimPrefix: (prefix, s) => (str(s).startsWith(str(prefix)) ? str(s).slice(str(prefix).length) : str(s)),
      trim: (s) => str(s).trim(),
      contains: (substr, s) => str(s).includes(str(substr)),
      hasPrefix: (prefix, s) => str(s).startsWith(str(prefix)),
      replace: (oldStr, newStr, s) => str(s).split(str(oldStr)).join(str(newStr)),
      lower: (s) => str(s).toLowerCase(),
      upper: (s) => str(s).toUpperCase(),
      join: (sep, list) => {
        if (!Array.isArray(list)) throw new TemplateError(`join: ${printValue(list)} is not a list`);
        return list.map(str).join(str(sep));
      },
      first: (list) => {
        if (!Array.isArray(list)) throw new TemplateError(`first: ${printValue(list)} is not a list`);
        return list.length > 0 ? list[0] : null;
      },
      list: (...items) => items,
      ternary: (whenTrue, whenFalse, condition) => (truth(condition) ? whenTrue : whenFalse),
      toYaml: (v) => toYaml(v),
      fromYaml: (s) => {
        try {
          const parsed: unknown = YAML.parse(str(s), { version: '1.1' });
          return isMap(parsed) ? parsed : {};
        } catch (err) {
          return { Error: (err as Error).message };
        }
      },
      nindent: (n, s) => `\n${indent(toNumber(n, 'nindent'), str(s))}`,
      indent: (n, s) => indent(toNumber(n, 'indent'), str(s)),
      sha256sum: (s) => createHash('sha256').update(str(s)).digest('hex'),
      b64enc: (s) => Buffer.from(str(s)).toString('base64'),
      div: (a, b) => {
        const divisor = toNumber(b, 'div');
        if (divisor === 0) throw new TemplateError('div: division by zero');
        return new GoInt(Math.trunc(toNumber(a, 'div') / divisor));
      },
      float64: (v) => toFloat(v, 'float64'),
      mulf: (first, ...rest) => rest.reduce<number>((p, a) => p * toFloat(a, 'mulf'), toFloat(first, 'mulf')),
      divf: (first, ...rest) => rest.reduce<number>((q, a) => q / toFloat(a, 'divf'), toFloat(first, 'divf')),
      floor: (v) => Math.floor(toFloat(v, 'floor')),
      toString: (v: Value) => str(v),
      kindIs: (kind, v) => goKind(v) === str(kind),
      hasSuffix: (suffix, s) => str(s).endsWith(str(suffix)),
      trimAll: (cutset, s) => {
        const set = new Set([...str(cutset)]);
        const chars = [...str(s)];
        let start = 0;
        let end = chars.length;
        while (start < end && set.has(chars[start]!)) start++;
        while (end > start && set.has(chars[end - 1]!)) end--;
        return chars.slice(start, end).join('');
      },
      splitList: (sep, s) => str(s).split(str(sep)),
      compact: (list) => asList(list, 'compact').filter((v) => truth(v)),
      uniq: (list) => asList(list, 'uniq').filter((v, i, all) => all.findIndex((w) => compare('uniq', v, w) === 0) === i),
      has: (needle, list) => asList(list, 'has').some((v) => basicKind(v) === basicKind(needle) && compare('has', v, needle) === 0),
      concat: (...lists) => lists.flatMap((l) => asList(l, 'concat')),
      regexFind: (re, s) => new RegExp(goRegex(re)).exec(str(s))?.[0] ?? '',
      regexFindAll: (re, s, n) => {
        const all = [...str(s).matchAll(new RegExp(goRegex(re), 'g'))].map((m) => m[0]);
        const limit = toNumber(n, 'regexFindAll');
        return limit < 0 ? all : all.slice(0, limit);
      },
      regexReplaceAll: (re, s, repl) => str(s).replace(new RegExp(goRegex(re), 'g'), str(repl).replace(/\$\{?(\w+)\}?/g, '$$$1')),
      dict: (...pairs) => {
        if (pairs.length % 2 !== 0) throw new TemplateError('dict: odd number of arguments');
        const d: Record<string, Value> = {};
        for (let i = 0; i < pairs.length; i += 2) d[str(pairs[i])] = pairs[i + 1];
        return d;
      },
      get: (d, key) => {
        if (!isMap(d)) throw new TemplateError(`get: ${printValue(d)} is not a map`);
        return Object.prototype.hasOwnProperty.call(d, str(key)) ? d[str(key)] : '';
      },
      set: (d, key, v) => {
        if (!isMap(d)) throw new TemplateError(`set: ${printValue(d)} is not a map`);
        d[str(key)] = v;
        return d;
      },
      hasKey: (d, key) => isMap(d) && Object.prototype.hasOwnProperty.call(d, str(key)),
      dig: (...args) => {
        const d = args.at(-1);
        const fallback = args.at(-2);
        let node: Value = d;
        for (const key of args.slice(0, -2)) {
          if (!isMap(node) || !Object.prototype.hasOwnProperty.call(node, str(key))) return fallback;
          node = node[str(key)];
        }
        return node;
      },
      deepCopy: (v) => structuredClone(v),
      // mergo without override: keys already in dst win, maps merge recursively.
      merge: (dst, ...sources) => {
        if (!isMap(dst)) throw new TemplateError('merge: destination is not a map');
        const mergeInto = (target: Record<string, Value>, source: Value): void => {
          if (!isMap(source)) return;
          for (const [k, v] of Object.entries(source)) {
            if (!(k in target) || target[k] === null || target[k] === undefined) target[k] = structuredClone(v);
            else if (isMap(target[k]) && isMap(v)) mergeInto(target[k] as Record<string, Value>, v);
          }
        };
        for (const source of sources) mergeInto(dst, source);
        return dst;
      },
      fromYamlArray: (s) => {
        try {
          const parsed: unknown = YAML.parse(str(s), { version: '1.1' });
          return Array.isArray(parsed) ? parsed : [];
        } catch (err) {
          return [(err as Error).message];
        }
      },
      fail: (message) => {
        throw new FailError(str(message));
      },
      required: (message, v) => {
        if (!truth(v) && v !== false && !(v instanceof GoInt)) throw new FailError(str(message));
        return v;
      },
    };
  }

  /** Parses a template file: its {{define}}s are registered; returns the top-level body. */
  parse(name: string, source: string): Node[] {
    return new TreeParser(lex(source, name), name, this.defines).parseTop();
  }

  render(nodes: Node[], data: Value): string {
    const out: string[] = [];
    this.exec(nodes, data, [new Map([['$', data]])], out);
    return out.join('');
  }

  private include(name: Value, data: Value): string {
    const body = this.defines.get(String(name));
    if (!body) throw new TemplateError(`include: no template "${String(name)}"`);
    return this.render(body, data);
  }

  private exec(nodes: Node[], dot: Value, scope: Scope, out: string[]): void {
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out.push(node.text);
          break;
        case 'action': {
          const value = this.evalPipeline(node.pipeline, dot, scope, node.where);
          if (node.pipeline.decl) break;
          // Helm prints a missing value as an empty string; here it is an error (helm lint --strict).
          if (value === undefined) throw new TemplateError(`${node.where}: the pipeline evaluates to a missing value`);
          out.push(value === null ? '' : printValue(value));
          break;
        }
        case 'if':
        case 'with': {
          const inner: Scope = [...scope, new Map()];
          const value = this.evalPipeline(node.pipeline, dot, inner, node.where);
          if (truth(value)) this.exec(node.body, node.kind === 'with' ? value : dot, inner, out);
          else this.exec(node.elseBody, dot, inner, out);
          break;
        }
        case 'range': {
          const inner: Scope = [...scope, new Map()];
          const decl = node.pipeline.decl;
          const collection = this.evalPipeline({ commands: node.pipeline.commands }, dot, inner, node.where);
          const entries: [Value, Value][] = Array.isArray(collection)
            ? collection.map((item, index) => [new GoInt(index), item])
            : isMap(collection)
              ? Object.keys(collection)
                  .sort()
                  .map((key) => [key, collection[key]])
              : collection === null || collection === undefined
                ? []
                : (() => {
                    throw new TemplateError(`${node.where}: range can't iterate over ${printValue(collection)}`);
                  })();
          if (entries.length === 0) {
            this.exec(node.elseBody, dot, [...scope, new Map()], out);
            break;
          }
          for (const [key, item] of entries) {
            const iteration = new Map<string, Value>();
            if (decl?.vars.length === 1) iteration.set(decl.vars[0]!, item);
            if (decl?.vars.length === 2) {
              iteration.set(decl.vars[0]!, key);
              iteration.set(decl.vars[1]!, item);
            }
            this.exec(node.body, item, [...scope, iteration], out);
          }
          break;
        }
      }
    }
  }

  private evalPipeline(pipeline: Pipeline, dot: Value, scope: Scope, where: string): Value {
    let value: Value = undefined;
    let piped = false;
    for (const command of pipeline.commands) {
      value = this.evalCommand(command, dot, scope, where, piped ? [value] : []);
      piped = true;
    }
    if (pipeline.decl) {
      const name = pipeline.decl.vars[0]!;
      if (pipeline.decl.op === ':=') {
        scope[scope.length - 1]!.set(name, value);
      } else {
        const frame = [...scope].reverse().find((f) => f.has(name));
        if (!frame) throw new TemplateError(`${where}: undefined variable ${name}`);
        frame.set(name, value);
      }
    }
    return value;
  }

  private evalCommand(command: Command, dot: Value, scope: Scope, where: string, piped: Value[]): Value {
    const [head, ...rest] = command.operands;
    if (head!.type === 'ident') {
      const name = head!.name;
      if (name === 'and' || name === 'or') {
        const argThunks = [...rest.map((op) => () => this.evalOperand(op, dot, scope, where)), ...piped.map((v) => () => v)];
        let last: Value = undefined;
        for (const thunk of argThunks) {
          last = thunk();
          if (name === 'and' ? !truth(last) : truth(last)) return last;
        }
        return last;
      }
      const args = [...rest.map((op) => this.evalOperand(op, dot, scope, where)), ...piped];
      if (name === 'include') {
        if (args.length !== 2) throw new TemplateError(`${where}: include takes a name and a context`);
        return this.include(args[0], args[1]);
      }
      const fn = this.functions[name];
      if (!fn) throw new TemplateError(`${where}: function "${name}" not defined`);
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof TemplateError) throw err;
        throw new TemplateError(`${where}: ${name}: ${(err as Error).message}`);
      }
    }
    const target = this.evalOperand(head!, dot, scope, where, true);
    if (typeof target === 'function') {
      const args = [...rest.map((op) => this.evalOperand(op, dot, scope, where)), ...piped];
      return (target as Fn)(...args);
    }
    if (rest.length > 0 || piped.length > 0) throw new TemplateError(`${where}: can't give argument to non-function`);
    return target;
  }

  private evalOperand(op: Operand, dot: Value, scope: Scope, where: string, allowMethod = false): Value {
    switch (op.type) {
      case 'literal':
        return op.value;
      case 'ident':
        return this.evalCommand({ operands: [op] }, dot, scope, where, []);
      case 'dot':
        return this.fields(dot, op.fields, where, '.', allowMethod);
      case 'var': {
        const frame = [...scope].reverse().find((f) => f.has(op.name));
        if (!frame) throw new TemplateError(`${where}: undefined variable "${op.name}"`);
        return this.fields(frame.get(op.name), op.fields, where, op.name, allowMethod);
      }
      case 'paren':
        return this.fields(this.evalPipeline(op.pipeline, dot, scope, where), op.fields, where, '(...)', allowMethod);
    }
  }

  private fields(base: Value, fields: string[], where: string, label: string, allowMethod: boolean): Value {
    let value = base;
    let path = label;
    for (const field of fields) {
      if (value === null || value === undefined) throw new TemplateError(`${where}: nil pointer evaluating ${path}.${field}`);
      if (!isMap(value)) throw new TemplateError(`${where}: can't evaluate field ${field} in ${path} (${printValue(value)})`);
      value = Object.prototype.hasOwnProperty.call(value, field) ? value[field] : undefined;
      path = `${path}.${field}`;
    }
    if (typeof value === 'function' && !allowMethod) return (value as Fn)();
    return value;
  }
}
