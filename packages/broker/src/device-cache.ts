// Identity and capabilities read once per device (e.g. `*IDN?`, Elliptec `in`), shared by
// V2 and V4 so neither re-asks a device the other already identified.

export interface DeviceIdentity {
  key: string;
  /** The reply as the device sent it. */
  raw: string;
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  readAt: string;
}

/** Splits an IEEE 488.2 `*IDN?` reply: `maker,model,serial,firmware`. */
export function parseIdn(key: string, raw: string): DeviceIdentity {
  const [manufacturer, model, serial, firmware] = raw.split(',').map((s) => s.trim());
  return { key, raw, manufacturer, model, serial, firmware, readAt: new Date().toISOString() };
}

export class DeviceCache {
  private readonly identities = new Map<string, Promise<DeviceIdentity>>();
  private readonly known = new Map<string, DeviceIdentity>();
  /** How many times a device was actually asked (the rest were served from the cache). */
  reads = 0;

  /** Returns the cached identity or reads it once; concurrent callers share one read. Failures are not cached. */
  identify(key: string, read: () => Promise<DeviceIdentity>): Promise<DeviceIdentity> {
    let p = this.identities.get(key);
    if (!p) {
      this.reads++;
      p = read().then(
        (id) => {
          this.known.set(key, id);
          return id;
        },
        (err: unknown) => {
          this.identities.delete(key);
          throw err;
        },
      );
      this.identities.set(key, p);
    }
    return p;
  }

  get(key: string): DeviceIdentity | undefined {
    return this.known.get(key);
  }

  /** Forgets a device (e.g. after it was replaced or reconnected). */
  invalidate(key: string): void {
    this.identities.delete(key);
    this.known.delete(key);
  }

  entries(): DeviceIdentity[] {
    return [...this.known.values()];
  }
}
