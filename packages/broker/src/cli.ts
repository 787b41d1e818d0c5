// The `daq` command line: parses arguments and dispatches to one command module each.

import { parseArgs } from 'node:util';
import { processIo, type CliIo } from './cli-io.js';
import { validateCommand } from './commands/validate.js';
import { schemaCommand } from './commands/schema.js';
import { simCommand } from './commands/sim.js';
import { runCommand } from './commands/run.js';
import { inspectCommand } from './commands/inspect.js';
import { auditCommand, migrateCommand } from './commands/migrate.js';
import { planCheckCommand, planListText, planRunCommand } from './commands/plan.js';
import { serveCommand } from './commands/serve.js';
import { collectCommand, runsCommand } from './commands/collect.js';

export const HELP = `daq: laboratory data acquisition, legacy V2 and V4 instruments side by side

Usage:
  daq run CONFIG [--duration S] [--out DIR]
                             acquire: start V2 and V4 (simulators too when simulate = true),
                             store every reading in a new run directory under data_dir (or
                             DIR), progress on stderr; stops after S seconds or on Ctrl-C
                             (exit 0 completed, 130 interrupted, 1 failed, 2 bad usage)
  daq validate CONFIG...     check configuration files; prints "ok FILE" for each valid one,
                             errors as FILE:LINE:COL: key: message (exit 0 valid, 2 invalid,
                             1 unreadable)
  daq inspect RUN_DIR_OR_FILE [--json]
                             what a run holds: status and counts (run.json), each file's
                             schema and rows, time span, per-instrument channels with
                             min/mean/max (exit 1 if a file is truncated)
  daq sim CONFIG [--json]    start a simulator for every instrument of CONFIG (real ptys and
                             TCP sockets); one line (JSON with --json) per instrument with
                             its endpoint; runs until SIGINT or SIGTERM, then exits 0
  daq migrate CONFIG [-o FILE | --in-place] [--keep-v2] [--shadow] [--force]
                             convert CONFIG's V2 instruments to V4 (same ids, every setting
                             written out, comments on what to check); report per instrument
                             on stderr; the new file on stdout, to FILE (-o; --force replaces
                             an existing one) or over CONFIG (--in-place, the original kept as
                             CONFIG.v2.bak). --keep-v2 keeps instruments without a V4 driver
                             on V2; --shadow moves nothing and lists the V2 instruments in
                             [v4.shadow] to compare first (exit 0 done, 2 invalid CONFIG or
                             bad usage, 1 unreadable CONFIG or unwritable output).
                             Guide: docs/migration.md
  daq migrate --audit CONFIG... [--json]
                             which configurations still use V2: per configuration its V2
                             instruments with their type's deprecation batch, then per type
                             the instruments and configurations, and per batch whether it
                             could be removed today (no configuration runs its types on V2)
                             (exit 0 audited, 2 an invalid CONFIG, 1 an unreadable one).
                             Guide: docs/migration.md#deprecation-batches
  daq plan list               the built-in plans and their parameters
  daq plan check CONFIG PLAN  check a plan file against a configuration: instruments exist and
                             can do what it asks, positions within limits; every problem as
                             PLAN:LINE:COL; nothing moves (exit 0 ok, 2 problems)
  daq plan run CONFIG PLAN [--out DIR] [--md key=value ...]
                             run an experiment: acquisition as daq run, plus the plan's
                             points; documents.jsonl (Bluesky event-model) and
                             events-primary.arrows in the run directory; Ctrl-C pauses and
                             asks resume/stop/abort on a terminal, aborts otherwise
                             (exit 0 success, 1 failed or aborted, 2 bad plan)
  daq serve CONFIG [--listen HOST:PORT] [--token T] [--out DIR]
                             keep the runtime running (as daq run) with an HTTP + WebSocket
                             API, a queue of plans and a live web page at http://HOST:PORT/
                             (default 127.0.0.1:8686; any other address needs a token: given,
                             from DAQ_TOKEN, or generated and printed); Ctrl-C or SIGTERM
                             aborts the running plan and exits 0. Guide: docs/daemon.md
  daq collect --server URL [--out DIR] [--stream NAME] [--durable NAME] [--subjects S] [--idle-exit S] [--batch N]
                             gather published runs ([application.publish]) from NATS
                             JetStream into DIR/<lab>/<host>/<run>/ (default DIR collected),
                             exactly as each host wrote them; a durable consumer (default
                             daq-collect-<this host>) that resumes where it stopped; runs
                             until Ctrl-C, or until idle for S seconds. Credentials from
                             DAQ_NATS_TOKEN, DAQ_NATS_USER/DAQ_NATS_PASSWORD or
                             DAQ_NATS_NKEY_SEED. Guide: docs/publishing.md
  daq runs DIR [--json]      the runs under DIR (collected or a data_dir): host, run, plan,
                             start, status, points, rows
  daq schema [--out FILE] [--markdown]
                             print (or write) the configuration's JSON Schema, or its
                             Markdown reference
  daq --help                 this text
  daq --version              the version

Examples:
  daq run examples/demo.toml --duration 10
  daq validate examples/*.toml
  daq sim examples/demo.toml --json
  daq migrate lab.toml --shadow -o lab.shadow.toml && daq migrate lab.toml -o lab.v4.toml
  daq migrate --audit lab/*.toml
  daq plan run examples/polarization-scan.toml examples/plans/polarizer.toml
  daq serve examples/polarization-scan.toml
  daq schema --out schema/daq-config.schema.json

Configuration reference: docs/configuration.md. Source: the README at the repository root.
`;

const VERSION = '0.1.0';

/** Runs the CLI and returns its exit code; never calls process.exit, so tests can run it in-process. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    io.out(`daq ${VERSION}\n`);
    return 0;
  }
  try {
    switch (command) {
      case 'plan': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { out: { type: 'string' }, md: { type: 'string', multiple: true } },
        });
        const [sub, configFile, planFile, ...extra] = positionals;
        if (extra.length) {
          io.err(`daq plan: unexpected ${extra.join(' ')}\n`);
          return 2;
        }
        if (sub === 'list') {
          io.out(planListText());
          return 0;
        }
        if (sub === 'check') return await planCheckCommand(configFile, planFile, io);
        if (sub === 'run') return await planRunCommand(configFile, planFile, { out: values.out, md: values.md }, io);
        io.err(
          `daq plan: ${sub === undefined ? 'name a subcommand' : `unknown subcommand ${JSON.stringify(sub)}`}: list, check or run\n`,
        );
        return 2;
      }
      case 'serve': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { listen: { type: 'string' }, token: { type: 'string' }, out: { type: 'string', short: 'o' } },
        });
        return await serveCommand(positionals[0], { listen: values.listen, token: values.token, out: values.out }, io);
      }
      case 'validate': {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
        return await validateCommand(positionals, io);
      }
      case 'sim': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { json: { type: 'boolean', default: false } },
        });
        return await simCommand(positionals[0], { json: values.json ?? false }, io);
      }
      case 'run': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { duration: { type: 'string', short: 'd' }, out: { type: 'string', short: 'o' } },
        });
        return await runCommand(
          positionals[0],
          { durationS: values.duration === undefined ? undefined : Number(values.duration), out: values.out },
          io,
        );
      }
      case 'collect': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            server: { type: 'string', multiple: true },
            out: { type: 'string', default: 'collected' },
            stream: { type: 'string', default: 'DAQ' },
            durable: { type: 'string' },
            subjects: { type: 'string', default: 'daq.>' },
            'idle-exit': { type: 'string' },
            batch: { type: 'string' },
          },
        });
        if (positionals.length > 0) {
          io.err(`daq collect: unexpected argument ${positionals[0]} (the server is given with --server URL)\n`);
          return 2;
        }
        const idle = values['idle-exit'] === undefined ? undefined : Number(values['idle-exit']);
        if (idle !== undefined && !(idle > 0)) {
          io.err(`daq collect: --idle-exit takes seconds (got ${values['idle-exit']})\n`);
          return 2;
        }
        const batch = values.batch === undefined ? undefined : Number(values.batch);
        if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1 && batch <= 10000)) {
          io.err(`daq collect: --batch takes messages per fetch, 1 to 10000 (got ${values.batch})\n`);
          return 2;
        }
        if (!values.server?.length) {
          io.err('daq collect: --server nats://HOST:PORT is required (docs/publishing.md)\n');
          return 2;
        }
        return await collectCommand(
          {
            servers: values.server.flatMap((s) => s.split(',')),
            out: values.out!,
            stream: values.stream!,
            subjects: values.subjects!,
            ...(values.durable ? { durable: values.durable } : {}),
            ...(idle !== undefined ? { idleExitS: idle } : {}),
            ...(batch !== undefined ? { batch } : {}),
          },
          io,
        );
      }
      case 'runs': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { json: { type: 'boolean', default: false } },
        });
        return await runsCommand(positionals[0], { json: values.json ?? false }, io);
      }
      case 'inspect': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { json: { type: 'boolean', default: false } },
        });
        return await inspectCommand(positionals[0], { json: values.json ?? false }, io);
      }
      case 'migrate': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            out: { type: 'string', short: 'o' },
            'in-place': { type: 'boolean', default: false },
            'keep-v2': { type: 'boolean', default: false },
            shadow: { type: 'boolean', default: false },
            force: { type: 'boolean', default: false },
            audit: { type: 'boolean', default: false },
            json: { type: 'boolean', default: false },
          },
        });
        if (values.audit) {
          const extra = (['out', 'in-place', 'keep-v2', 'shadow', 'force'] as const).filter((k) => values[k]);
          if (extra.length) {
            io.err(
              `daq migrate --audit: ${extra.map((k) => `--${k}`).join(', ')} ${extra.length === 1 ? 'goes' : 'go'} with a conversion, not with --audit\n`,
            );
            return 2;
          }
          return await auditCommand(positionals, { json: values.json ?? false }, io);
        }
        if (values.json) {
          io.err('daq migrate: --json goes with --audit (daq migrate --audit CONFIG... --json)\n');
          return 2;
        }
        if (positionals.length > 1) {
          io.err(`daq migrate: one configuration at a time (got ${positionals.length}: ${positionals.join(' ')})\n`);
          return 2;
        }
        return await migrateCommand(
          positionals[0],
          {
            out: values.out,
            inPlace: values['in-place'] ?? false,
            keepV2: values['keep-v2'] ?? false,
            shadow: values.shadow ?? false,
            force: values.force ?? false,
          },
          io,
        );
      }
      case 'schema': {
        const { values } = parseArgs({
          args: rest,
          options: { out: { type: 'string', short: 'o' }, markdown: { type: 'boolean', default: false } },
        });
        return await schemaCommand(values.out, values.markdown ?? false, io);
      }
      default:
        io.err(`daq: unknown command "${command}" (daq --help lists the commands)\n`);
        return 2;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (
      err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ||
      err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
    ) {
      io.err(`daq ${command}: ${err.message} (daq --help)\n`);
      return 2;
    }
    io.err(`daq ${command}: ${err.message}\n`);
    return 1;
  }
}
