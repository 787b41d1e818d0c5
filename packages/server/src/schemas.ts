// The JSON Schemas of the API's requests, and the OpenAPI description derived from them. The
// plan body comes from the same source as plan files (PLAN_PARAMS of @daq/plans): what a plan
// file may hold, a request may hold, and the plan is then checked by the same parser.

import { BUILTIN_PLANS, PLAN_PARAMS } from '@daq/plans';

type Schema = Record<string, unknown>;

const PARAM_SCHEMA: Record<string, Schema> = {
  number: { type: 'number' },
  integer: { type: 'integer' },
  string: { type: 'string', minLength: 1 },
  boolean: { type: 'boolean' },
  'string[]': { type: 'array', items: { type: 'string', minLength: 1 } },
  'number[]': { type: 'array', items: { type: 'number' } },
  axes: {
    type: 'array',
    minItems: 1,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['motor', 'start', 'stop', 'num'],
      properties: { motor: { type: 'string' }, start: { type: 'number' }, stop: { type: 'number' }, num: { type: 'integer' } },
    },
  },
};

/** A plan as a request body carries it: a plan file's keys, as JSON. */
export function planSchema(): Schema {
  const properties: Record<string, Schema> = { plan: { type: 'string', enum: Object.keys(BUILTIN_PLANS) } };
  for (const params of Object.values(PLAN_PARAMS))
    for (const [key, p] of Object.entries(params)) properties[key] = PARAM_SCHEMA[p.type]!;
  properties.on_failure = {
    type: 'object',
    additionalProperties: false,
    properties: { retries: { type: 'integer', minimum: 0, maximum: 100 }, then: { enum: ['skip', 'abort'] } },
  };
  properties.suspenders = {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['when'],
      properties: { when: { type: 'string' }, resume_after_ms: { type: 'number', minimum: 0 } },
    },
  };
  properties.md = { type: 'object' };
  return { type: 'object', additionalProperties: false, required: ['plan'], properties };
}

/** The built-in plans and their parameters, for a client's form. */
export function planList(): { name: string; does: string; params: { name: string; type: string; required: boolean }[] }[] {
  return Object.entries(PLAN_PARAMS).map(([name, params]) => ({
    name,
    does: BUILTIN_PLANS[name as keyof typeof BUILTIN_PLANS].does,
    params: Object.entries(params).map(([k, p]) => ({ name: k, type: p.type, required: p.required === true })),
  }));
}

const id = (name: string, description: string): Schema => ({
  type: 'object',
  required: [name],
  additionalProperties: false,
  properties: { [name]: { type: 'string', minLength: 1, maxLength: 200, description } },
});
const noBody = { type: 'null' };
const tag = (tags: string, summary: string) => ({ tags: [tags], summary });

export const ROUTE_SCHEMAS = {
  status: tag('status', 'Subsystems, workers, rings, drops, crashes, port and session holders, queue, clients'),
  instruments: tag('instruments', 'Every instrument: channels, commands, last values, port holder'),
  instrument: { ...tag('instruments', 'One instrument'), params: id('id', 'instrument id') },
  command: {
    ...tag('instruments', 'Runs a command on an instrument (moveAbs, home, …) and answers its result'),
    params: {
      type: 'object',
      required: ['id', 'command'],
      additionalProperties: false,
      properties: { id: { type: 'string', minLength: 1 }, command: { type: 'string', minLength: 1 } },
    },
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { args: { type: 'array', maxItems: 16, description: 'positional arguments, e.g. [45] for moveAbs' } },
    },
  },
  plans: tag('plans', 'The built-in plans and their parameters'),
  queue: tag('queue', 'The queue: state, waiting items, the current run'),
  queueAdd: {
    ...tag('queue', 'Checks a plan (instruments, limits) and adds it to the queue'),
    body: { type: 'object', required: ['plan'], additionalProperties: false, properties: { plan: planSchema() } },
  },
  queueClear: tag('queue', 'Removes every waiting item'),
  queueItem: { ...tag('queue', 'Removes a waiting item'), params: id('item', 'queue item id') },
  queueMove: {
    ...tag('queue', 'Moves a waiting item to a position in the queue'),
    params: id('item', 'queue item id'),
    body: { type: 'object', required: ['to'], additionalProperties: false, properties: { to: { type: 'integer', minimum: 0 } } },
  },
  queueControl: {
    ...tag('queue', 'Starts the queue, or stops it after the current item'),
    body: { anyOf: [noBody, { type: 'object', additionalProperties: false, maxProperties: 0 }] },
  },
  run: tag('run', 'The running plan: progress, positions, state'),
  pause: {
    ...tag('run', 'Pauses the running plan: at the end of the point (deferred) or now, stopping motion (immediate)'),
    body: {
      anyOf: [noBody, { type: 'object', additionalProperties: false, properties: { mode: { enum: ['deferred', 'immediate'] } } }],
    },
  },
  runControl: {
    ...tag('run', 'Resumes (repeating the interrupted point) or stops the plan cleanly'),
    body: { anyOf: [noBody, { type: 'object', additionalProperties: false, maxProperties: 0 }] },
  },
  abort: {
    ...tag('run', 'Aborts the plan now (motion stopped), with a reason'),
    body: {
      anyOf: [
        noBody,
        { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 500 } } },
      ],
    },
  },
  history: tag('history', 'Finished queue items and their runs'),
  runInfo: { ...tag('runs', 'A finished run: summary and files'), params: id('uid', 'run start uid') },
  runDocuments: { ...tag('runs', "A finished run's event-model documents (ndjson)"), params: id('uid', 'run start uid') },
  runShadow: {
    ...tag('shadow', "A finished run's shadow comparison (its shadow.json): statistics, verdict, worst moments, pairs"),
    params: id('uid', 'run start uid'),
  },
  shadow: {
    ...tag(
      'shadow',
      'The live shadow comparison: statistics and verdict per instrument and channel, and the pairs decided since `since`',
    ),
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // A query's values are strings (types are not coerced): digits only.
        since: {
          type: 'string',
          pattern: '^[0-9]{1,15}$',
          description:
            'the `seq` of the previous answer: only pairs decided after it are sent (default 0: the newest 2000 per channel)',
        },
        token: { type: 'string' },
      },
    },
  },
  runFile: {
    ...tag('runs', 'One file of a finished run'),
    params: {
      type: 'object',
      required: ['uid', 'name'],
      additionalProperties: false,
      properties: { uid: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1, maxLength: 200 } },
    },
  },
} as const;
