// Where a plan run's documents go in the run directory: `documents.jsonl` (one JSON line per
// document, `{"name": …, "doc": …}`, as event-model's serializers write them, flushed as they
// come) and, at the run's stop, one Arrow IPC file per stream (`events-<stream>.arrows`: one
// row per event, columns seq_num, time and one per data key) that polars and pyarrow read.

import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Table, makeVector, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import type { DescriptorDoc, Document, EventDoc } from './documents.js';

export interface RunOutputCounts {
  documents: number;
  events: number;
  /** Files written at the stop, relative to the run directory. */
  files: string[];
}

export class RunOutput {
  private readonly streams = new Map<string, { descriptor: DescriptorDoc; events: EventDoc[] }>();
  private readonly byUid = new Map<string, string>();
  readonly counts: RunOutputCounts = { documents: 0, events: 0, files: ['documents.jsonl'] };

  constructor(readonly dir: string) {
    writeFileSync(join(dir, 'documents.jsonl'), '');
  }

  /** Takes one document (give this to RunOptions.onDocument). */
  readonly accept = (d: Document): void => {
    appendFileSync(join(this.dir, 'documents.jsonl'), `${JSON.stringify(d)}\n`);
    this.counts.documents++;
    if (d.name === 'descriptor') {
      this.streams.set(d.doc.name, { descriptor: d.doc, events: [] });
      this.byUid.set(d.doc.uid, d.doc.name);
    } else if (d.name === 'event') {
      this.streams.get(this.byUid.get(d.doc.descriptor)!)!.events.push(d.doc);
      this.counts.events++;
    } else if (d.name === 'stop') {
      this.writeTables();
    }
  };

  private writeTables(): void {
    for (const [name, s] of this.streams) {
      const keys = Object.entries(s.descriptor.data_keys)
        .filter(([, k]) => !k.external)
        .map(([k]) => k);
      const columns: Record<string, Vector> = {
        seq_num: makeVector(Int32Array.from(s.events, (e) => e.seq_num)),
        time: makeVector(Float64Array.from(s.events, (e) => e.time)),
      };
      for (const k of keys) {
        const values = s.events.map((e) => e.data[k]);
        columns[k] = values.every((v) => typeof v === 'number')
          ? makeVector(Float64Array.from(values as number[]))
          : vectorFromArray(values.map((v) => (v === undefined ? null : String(v))));
      }
      const file = `events-${name}.arrows`;
      writeFileSync(join(this.dir, file), tableToIPC(new Table(columns), 'file'));
      this.counts.files.push(file);
    }
  }
}
