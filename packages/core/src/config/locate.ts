// Maps key paths of a TOML document to line and column, so every configuration error can
// point at the place to fix. smol-toml gives values but no positions; toml-eslint-parser
// (a maintained TOML 1.0 AST with source locations) gives positions.

import { parseTOML } from 'toml-eslint-parser';

export type KeyPath = readonly (string | number)[];

export interface Position {
  line: number;
  column: number;
}

type AnyNode = {
  type: string;
  loc: { start: { line: number; column: number } };
  [key: string]: unknown;
};

/** `['v4', 'instruments', 1, 'resource']` → `v4.instruments[1].resource`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

const keyOf = (path: KeyPath) => JSON.stringify(path);

export class PositionIndex {
  private readonly positions = new Map<string, Position>();

  constructor(source: string) {
    let ast: { body: AnyNode[] };
    try {
      ast = parseTOML(source) as unknown as { body: AnyNode[] };
    } catch {
      return; // syntax errors are reported by the value parser; positions fall back to 1:1
    }
    const top = ast.body[0];
    if (!top) return;
    for (const node of (top as unknown as { body: AnyNode[] }).body) {
      if (node.type === 'TOMLTable') {
        const base = node.resolvedKey as (string | number)[];
        this.set(base, node);
        for (const kv of node.body as AnyNode[]) this.keyValue(base, kv);
      } else {
        this.keyValue([], node);
      }
    }
  }

  private set(path: KeyPath, node: AnyNode): void {
    const k = keyOf(path);
    if (!this.positions.has(k)) this.positions.set(k, { line: node.loc.start.line, column: node.loc.start.column + 1 });
  }

  private keyValue(base: KeyPath, kv: AnyNode): void {
    const keyNode = kv.key as { keys: { name?: string; value?: string }[] };
    const path = [...base];
    for (const k of keyNode.keys) {
      path.push(k.name ?? String(k.value));
      this.set(path, kv);
    }
    this.value(path, kv.value as AnyNode);
  }

  private value(path: KeyPath, node: AnyNode): void {
    if (node.type === 'TOMLInlineTable') {
      for (const kv of node.body as AnyNode[]) this.keyValue(path, kv);
    } else if (node.type === 'TOMLArray') {
      (node.elements as AnyNode[]).forEach((el, i) => {
        this.set([...path, i], el);
        this.value([...path, i], el);
      });
    }
  }

  /** Position of the key at `path`, or of its nearest written ancestor; 1:1 for the document. */
  find(path: KeyPath): Position {
    for (let n = path.length; n > 0; n--) {
      const pos = this.positions.get(keyOf(path.slice(0, n)));
      if (pos) return pos;
    }
    return { line: 1, column: 1 };
  }

  /** True when the key at `path` is written in the file (not filled in by a default). */
  has(path: KeyPath): boolean {
    return this.positions.has(keyOf(path));
  }
}
