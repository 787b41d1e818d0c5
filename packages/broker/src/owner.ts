// Owners are `worker:instrument` (e.g. `v2:elliptec1`); a worker's name covers all its instruments.

/** True when `owner` is `who` itself or one of its instruments (`v2` covers `v2:elliptec1`, not `v2x:a`). */
export function ownedBy(owner: string, who: string): boolean {
  return owner === who || owner.startsWith(`${who}:`);
}
