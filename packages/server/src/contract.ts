// What the broker needs of @daq/server without loading the server itself (Fastify and its
// plugins load only in the server worker): the thread contract's types and the address checks.

export * from './api.js';
export { isLoopback, isWildcard } from './security.js';
