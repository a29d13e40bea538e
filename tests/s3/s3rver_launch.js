#!/usr/bin/env node
// Starts s3rver (a local S3 server, tests/s3/package.json) for natter's S3
// tests: on 127.0.0.1 and a port the system picks, with its files in DIR and
// the buckets named made at start. Prints one line, {"port": N}, once it
// listens, and exits when its stdin closes (the test process ended, however
// it ended) or on SIGTERM.
//
//   node s3rver_launch.js DIR BUCKET... [--key KEY.pem --cert CERT.pem]
//
// s3rver checks that a request is signed, for the access key id S3RVER, and
// that a pre-signed URL has not expired, but not the signature itself; the
// signatures are checked against AWS's own signer elsewhere
// (sigv4_crosscheck_test.cpp).
"use strict";

const fs = require("fs");
const S3rver = require("s3rver");

function parse(argv) {
  const out = { directory: argv[0], buckets: [], tls: {} };
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === "--key" || argv[i] === "--cert") out.tls[argv[i].slice(2)] = fs.readFileSync(argv[++i]);
    else out.buckets.push(argv[i]);
  }
  if (!out.directory) throw new Error("usage: s3rver_launch.js DIR BUCKET... [--key KEY --cert CERT]");
  return out;
}

async function main() {
  const args = parse(process.argv.slice(2));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: args.directory,
    configureBuckets: args.buckets.map((name) => ({ name, configs: [] })),
    ...args.tls,
  });
  const { port } = await server.run();
  process.stdout.write(JSON.stringify({ port }) + "\n");
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(`s3rver_launch: ${e.stack || e}\n`);
  process.exit(1);
});
