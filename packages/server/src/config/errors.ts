/**
 * A user mistake in the configuration. The message is always one line that names
 * the key and where the value came from; the CLI prints it without a stack trace.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';

  constructor(message: string) {
    const line = message.replace(/\s*[\r\n]+\s*/g, ' ');
    super(line.startsWith('config error: ') ? line : `config error: ${line}`);
  }
}

/** Shows a value the way the user wrote it: strings quoted, TOML floats with a decimal point. */
export function showValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'number':
      if (Number.isNaN(value)) return 'nan';
      if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
      return Number.isInteger(value) ? `${value}.0` : String(value);
    default:
      if (value instanceof Date) return `a date (${value.toISOString()})`;
      if (Array.isArray(value)) return 'an array';
      if (value !== null && typeof value === 'object') return 'a table';
      return String(value);
  }
}

/** Shows a validated setting: numbers as plain integers, strings quoted, lists as `["a", "b"]`. */
export function showSetting(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(showSetting).join(', ')}]`;
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
