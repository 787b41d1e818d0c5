// Leak checks for integration tests: a snapshot of Node's active handles (sockets, ptys,
// timers, file requests) taken at the start, compared at the end after a short grace.

import type { Test } from 'tap';

function count(list: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of list) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

export function handleSnapshot(): Map<string, number> {
  return count(process.getActiveResourcesInfo());
}

/** Asserts that no kind of handle is more numerous than in `before` (waits up to 1 s for closes to land). */
export async function assertNoNewHandles(t: Test, before: Map<string, number>, what = 'handles'): Promise<void> {
  let extra: string[] = [];
  for (let i = 0; i < 20; i++) {
    const now = handleSnapshot();
    extra = [...now].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} x${n - (before.get(k) ?? 0)}`);
    if (extra.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.same(extra, [], `no ${what} left open`);
}
