// What travels on the stream, shared by the publisher and the collector. A run directory is
// published as files: the collector rebuilds each file byte for byte from where its pieces go.
//
//   subject  <subject_root>.<lab>.<host>.<run>.<kind>
//   kind     doc    one event-model document: one line of a documents.jsonl, as stored
//            arrow  bytes of an Arrow IPC stream file (scalars.arrows, …), whole IPC messages
//                   where they fit in one message; the piece at offset 0 starts with the schema
//            file   bytes of any other file (written whole at the run's end: events-*.arrows)
//            json   a whole JSON file (run.json, plan.json, shadow.json, remote-files.json),
//                   the newest version wins
//   headers  Daq-File     the file's path in the run directory ("plans/001-scan/documents.jsonl")
//            Daq-Offset   doc/arrow/file: the byte offset of the payload in the file
//            Daq-Version  json: a number that grows with every new content
//            Daq-Flushed  when the bytes were on disk (ms since the epoch): the lag's start
//            Daq-Run      the run's random uid (two runs with one directory name stay apart)
//            Nats-Msg-Id  <prefix>.<run>~<uid>/<file>@<kind>:<offset>+<length> or #<version>

export const KINDS = ['doc', 'arrow', 'file', 'json'] as const;
export type Kind = (typeof KINDS)[number];

export const H_FILE = 'Daq-File';
export const H_OFFSET = 'Daq-Offset';
export const H_VERSION = 'Daq-Version';
export const H_FLUSHED = 'Daq-Flushed';
export const H_RUN = 'Daq-Run';

/** One message for the stream. */
export interface OutMessage {
  subject: string;
  kind: Kind;
  file: string;
  /** doc/arrow/file: byte offset; json: version. */
  position: number;
  payload: Uint8Array;
  msgId: string;
  /** The run's random uid (PublishState.uid). */
  runUid: string;
  /** When its bytes were flushed to disk (file mtime, ms since the epoch). */
  flushedAt: number;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** The parts of a subject, or why it is not one of ours. */
export function parseSubject(
  subject: string,
): { root: string; lab: string; host: string; run: string; kind: Kind } | { error: string } {
  const t = subject.split('.');
  if (t.length !== 5) return { error: `subject ${subject} does not have the form <root>.<lab>.<host>.<run>.<kind>` };
  const [root, lab, host, run, kind] = t as [string, string, string, string, string];
  for (const x of [root, lab, host, run]) if (!TOKEN.test(x)) return { error: `subject ${subject}: token "${x}" is not a name` };
  if (!(KINDS as readonly string[]).includes(kind)) return { error: `subject ${subject}: unknown kind "${kind}"` };
  return { root, lab, host, run, kind: kind as Kind };
}

/**
 * Whether a file path from a message is safe to write under a run directory: relative, '/'
 * separated, no '..' or hidden segments, at most 4 deep. Anything else is refused, so a
 * message cannot write outside the collector's directory.
 */
export function safeRelativePath(p: string): boolean {
  if (p.length === 0 || p.length > 512) return false;
  const parts = p.split('/');
  return parts.length <= 4 && parts.every((s) => SEGMENT.test(s) && s !== '..' && s !== '.');
}

export function subjectOf(prefix: string, run: string, kind: Kind): string {
  return `${prefix}.${run}.${kind}`;
}

/**
 * The message id JetStream deduplicates on: the run (with its random uid), the file, and the
 * exact bytes (start and length; a JSON file's version). A retry of the same bytes is a
 * duplicate; a piece that covers other bytes never is.
 */
export function msgIdOf(
  prefix: string,
  run: string,
  uid: string,
  kind: Kind,
  file: string,
  position: number,
  length: number,
): string {
  return `${prefix}.${run}~${uid}/${file}${kind === 'json' ? `#${position}` : `@${kind}:${position}+${length}`}`;
}
