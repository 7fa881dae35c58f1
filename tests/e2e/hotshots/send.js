#!/usr/bin/env node
/*
 * send.js: drives meterd with the real hot-shots DogStatsD client, for
 * tests/e2e/test_hotshots.py. The Python test decides what is sent (and so
 * what it expects); this script only replays the calls through hot-shots, so
 * meterd sees exactly the wire format a Node.js application would produce.
 *
 * usage: node send.js PORT OPTIONS_JSON CALLS_JSON
 *   OPTIONS_JSON  extra hot-shots constructor options, e.g. {"globalTags":["team:obs"]}
 *   CALLS_JSON    [[method, arg, ...], ...]; a completion callback is appended to
 *                 each call, so every argument up to `tags` must be given.
 *
 * Prints one JSON line {"calls": N, "errors": [...]} once every call has
 * completed and the client is closed; exits 0 only if no call failed. Each
 * call is one UDP datagram (no client buffering), so N is the number of
 * packets meterd should count.
 */
'use strict';

const StatsD = require('hot-shots');

// hot-shots samples on the client: a call with a rate < 1 is sent only when
// Math.random() < rate. Pin it to 0 so every sampled call goes out (still
// tagged |@rate) and the test can predict exact aggregates.
Math.random = () => 0;

const HARD_TIMEOUT_MS = 15000;

function main() {
  const [port, optsJson, callsJson] = process.argv.slice(2);
  if (!port || !callsJson) {
    console.error('usage: node send.js PORT OPTIONS_JSON CALLS_JSON');
    process.exit(2);
  }
  // Never let a hung socket keep the test waiting.
  const guard = setTimeout(() => {
    console.error('send.js: timed out after ' + HARD_TIMEOUT_MS + ' ms');
    process.exit(3);
  }, HARD_TIMEOUT_MS);

  const errors = [];
  const client = new StatsD(Object.assign({
    host: '127.0.0.1',
    port: Number(port),
    protocol: 'udp',
    maxBufferSize: 0,               // one datagram per call
    includeDataDogTags: false,      // no DD_ENV/DD_TAGS from the environment
    includeDatadogTelemetry: false, // no client self-metrics mixed in
    originDetection: false,
    errorHandler: (err) => errors.push(String(err && err.message || err)),
  }, JSON.parse(optsJson || '{}')));

  const calls = JSON.parse(callsJson);
  const done = calls.map(([method, ...args]) => new Promise((resolve) => {
    if (typeof client[method] !== 'function') {
      errors.push('no such hot-shots method: ' + method);
      resolve();
      return;
    }
    try {
      client[method](...args, (err) => {
        if (err)
          errors.push(method + ': ' + String(err.message || err));
        resolve();
      });
    } catch (err) {
      errors.push(method + ' threw: ' + String(err.message || err));
      resolve();
    }
  }));

  Promise.all(done).then(() => {
    client.close((err) => {
      if (err)
        errors.push('close: ' + String(err.message || err));
      clearTimeout(guard);
      process.stdout.write(JSON.stringify({calls: calls.length, errors}) + '\n');
      process.exitCode = errors.length ? 1 : 0;
    });
  });
}

main();
