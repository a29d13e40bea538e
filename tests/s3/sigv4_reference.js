#!/usr/bin/env node
// The reference side of natter's SigV4 cross-check: signs each case read from
// stdin with AWS's own JavaScript signer (@smithy/signature-v4) and prints, as
// JSON on stdout, what it signed and the result.
//
// A case (all strings unless said):
//   name, mode ("presign" | "sign"), method, endpoint ("http://127.0.0.1:9000"),
//   style ("path" | "virtual_host"), bucket, key (raw, not encoded),
//   query ([[name, value], ...] raw), headers ([[name, value], ...]),
//   region, accessKeyId, secretAccessKey, sessionToken (may be ""),
//   now (Unix seconds, number), expires (seconds, number; presign),
//   payloadHash (sign).
// The URL is built the way the AWS SDK builds an S3 request: each '/'-separated
// piece of the key through extendedEncodeURIComponent, Host without a default
// port. A presign is what the S3 presigner does with
// requestChecksumCalculation WHEN_REQUIRED (no checksum parameters), except
// that the caller's headers stay signed headers (none is hoisted into the
// query) and no X-Amz-Content-Sha256 parameter is added: UNSIGNED-PAYLOAD is
// what S3 assumes for a pre-signed URL without one.
"use strict";

const { SignatureV4 } = require("@smithy/signature-v4");
const { Hash } = require("@smithy/hash-node");
const { HttpRequest, extendedEncodeURIComponent, buildQueryString } = require("@smithy/core/protocols");

// Keeps the canonical request and string to sign that the signer builds.
class CapturingSigner extends SignatureV4 {
  createCanonicalRequest(...args) {
    this.canonicalRequest = super.createCanonicalRequest(...args);
    return this.canonicalRequest;
  }
  async createStringToSign(...args) {
    this.stringToSign = await super.createStringToSign(...args);
    return this.stringToSign;
  }
}

function requestOf(c, extraHeaders) {
  const endpoint = new URL(c.endpoint);
  const hostname = c.style === "virtual_host" ? `${c.bucket}.${endpoint.hostname}` : endpoint.hostname;
  const host = hostname + (endpoint.port ? `:${endpoint.port}` : "");
  const key = c.key.split("/").map(extendedEncodeURIComponent).join("/");
  const path = c.style === "virtual_host" ? `/${key}` : `/${c.bucket}${c.key === "" ? "" : `/${key}`}`;
  const query = {};
  for (const [name, value] of c.query) {
    if (name in query) query[name] = [].concat(query[name], value);
    else query[name] = value;
  }
  const headers = { host, ...extraHeaders };
  for (const [name, value] of c.headers) headers[name] = value;
  return new HttpRequest({
    method: c.method,
    protocol: endpoint.protocol,
    hostname,
    port: endpoint.port ? Number(endpoint.port) : undefined,
    path,
    query,
    headers,
  });
}

function pairsOf(query) {
  const pairs = [];
  for (const [name, value] of Object.entries(query)) {
    for (const v of [].concat(value)) pairs.push([name, v]);
  }
  return pairs;
}

async function signOne(c) {
  const signer = new CapturingSigner({
    service: "s3",
    region: c.region,
    credentials: {
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}),
    },
    sha256: Hash.bind(null, "sha256"),
    uriEscapePath: false, // S3: the path is encoded once, by the request builder
    applyChecksum: false,
  });
  const signingDate = new Date(c.now * 1000);
  let signed;
  if (c.mode === "presign") {
    const sha = "x-amz-content-sha256";
    const request = requestOf(c, { [sha]: "UNSIGNED-PAYLOAD" });
    const callerHeaders = c.headers.map(([name]) => name.toLowerCase());
    signed = await signer.presign(request, {
      signingDate,
      expiresIn: c.expires,
      unsignableHeaders: new Set([sha]),
      unhoistableHeaders: new Set([sha, ...callerHeaders]),
    });
  } else {
    const request = requestOf(c, { "x-amz-content-sha256": c.payloadHash });
    signed = await signer.sign(request, { signingDate });
  }
  const qs = buildQueryString(signed.query);
  const port = signed.port ? `:${signed.port}` : "";
  const authorization = signed.headers.authorization;
  const signature = c.mode === "presign" ? signed.query["X-Amz-Signature"] : /Signature=([0-9a-f]+)/.exec(authorization)[1];
  const signedHeaders =
    c.mode === "presign" ? signed.query["X-Amz-SignedHeaders"] : /SignedHeaders=([^,]+)/.exec(authorization)[1];
  return {
    name: c.name,
    url: `${signed.protocol}//${signed.hostname}${port}${signed.path}${qs ? `?${qs}` : ""}`,
    host: signed.headers.host,
    query: pairsOf(signed.query),
    canonicalRequest: signer.canonicalRequest,
    stringToSign: signer.stringToSign,
    signature,
    signedHeaders,
    authorization: authorization ?? "",
  };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const results = [];
  for (const c of cases) {
    try {
      results.push(await signOne(c));
    } catch (e) {
      results.push({ name: c.name, error: String(e && e.stack ? e.stack : e) });
    }
  }
  process.stdout.write(JSON.stringify(results, null, 1) + "\n");
}

main().catch((e) => {
  process.stderr.write(`sigv4_reference: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
