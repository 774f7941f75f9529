/**
 * Reading test parameters from `__ENV` (passed in, so jest can test it). A malformed value fails
 * the run at init instead of silently falling back to a default.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export function envString(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? fallback : raw.trim();
}

export function envNumber(env: Env, name: string, fallback: number, limits: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.trim());
  const { min = -Infinity, max = Infinity, integer = false } = limits;
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const range = `${min === -Infinity ? '' : `>= ${min}`}${min !== -Infinity && max !== Infinity ? ' and ' : ''}${max === Infinity ? '' : `<= ${max}`}`;
    throw new Error(`${name}=${raw} is not ${integer ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`);
  }
  return value;
}

export function envBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (value === 'true' || value === '1' || value === 'yes') return true;
  if (value === 'false' || value === '0' || value === 'no') return false;
  throw new Error(`${name}=${raw} is not a boolean (true/false)`);
}

/** A k6 duration such as `30s`, `5m`, `1h30m` or `500ms`. */
export function envDuration(env: Env, name: string, fallback: string): string {
  const value = envString(env, name, fallback);
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) throw new Error(`${name}=${value} is not a k6 duration like 30s, 5m or 1h30m`);
  return value;
}

/** The hook URL: BASE_URL (scheme://host[:port], no trailing slash needed) + HOOK_PATH. */
export function hookUrl(env: Env): string {
  const base = envString(env, 'BASE_URL', 'http://localhost:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(base)) throw new Error(`BASE_URL=${base} must start with http:// or https://`);
  const path = envString(env, 'HOOK_PATH', '/hooks/token');
  return base + (path.charAt(0) === '/' ? path : `/${path}`);
}
