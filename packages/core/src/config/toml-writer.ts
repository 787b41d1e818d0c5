// A TOML writer for values, key = value lines and wrapped # comments
// (smol-toml's stringify cannot write comments).

import { DaqError } from '../errors.js';

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

/** A JSON string is a TOML basic string, except that TOML also wants DEL escaped. */
function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\u007f/g, '\\u007f');
}

export function tomlValue(v: unknown): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (typeof v === 'object' && v !== null) {
    const parts = Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  throw new DaqError('DAQ_CONFIG', `daq migrate cannot write ${String(v)} as TOML`, {});
}

/** A phrase that `comment` never breaks across lines (a file:line reference, say). */
export const unbroken = (phrase: string) => phrase.replace(/ /g, '\u00a0');

/** `# ` lines wrapped at about 96 columns. */
export function comment(text: string, width = 96): string[] {
  const out: string[] = [];
  let line = '#';
  for (const word of text.split(/[ \t\n]+/).filter(Boolean)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      out.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  out.push(line);
  return out.map((l) => l.replace(/\u00a0/g, ' '));
}

export function pairs(obj: object, keys: readonly string[]): string[] {
  const rec = obj as Record<string, unknown>;
  return keys.filter((k) => rec[k] !== undefined).map((k) => `${tomlKey(k)} = ${tomlValue(rec[k])}`);
}
