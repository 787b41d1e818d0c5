// The checks of a stress run: each passes or fails with a detail; a failed one is also a violation.

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export class CheckList {
  readonly checks: Check[] = [];

  /** `violations` collects a line per failed check (after any the run itself recorded). */
  constructor(readonly violations: string[]) {}

  check(name: string, ok: boolean, detail: string): void {
    this.checks.push({ name, ok, detail });
    if (!ok) this.violations.push(`${name}: ${detail}`);
  }
}
