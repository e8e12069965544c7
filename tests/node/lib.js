// Shared helpers for the scripts that drive the official Daytona npm clients against a
// running mock-runner. Each script prints one JSON object per line and exits non-zero on
// failure, so pytest can assert on what it printed.
'use strict';

const assert = require('assert');

// Arguments and environment every script gets from tests/python/mrtest.run_node().
function config() {
  const url = process.env.MR_URL;
  const token = process.env.MR_TOKEN;
  if (!url || !token) throw new Error('MR_URL and MR_TOKEN must be set');
  return { url, token };
}

async function http(method, path, body) {
  const { url, token } = config();
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

// Creates a sandbox through the runner API and returns its id.
async function createSandbox(id) {
  const res = await http('POST', '/sandboxes', {
    id, userId: 'user-1', snapshot: 'ubuntu:22.04', osUser: 'daytona',
    cpuQuota: 1, gpuQuota: 0, memoryQuota: 1, storageQuota: 3,
  });
  assert.strictEqual(res.status, 201, res.text);
  return id;
}

// basePath and axios options for a toolbox client pointed at /sandboxes/{id}/toolbox.
function toolboxConfiguration(pkg, sandboxId) {
  const { url, token } = config();
  return new pkg.Configuration({
    basePath: `${url}/sandboxes/${sandboxId}/toolbox`,
    baseOptions: { headers: { Authorization: `Bearer ${token}` } },
  });
}

function emit(step, data) {
  process.stdout.write(JSON.stringify(Object.assign({ step }, data || {})) + '\n');
}

// Runs the async main; prints the error and exits 1 on failure, exits 0 otherwise (the SDK
// may leave handles open, so exit explicitly).
function run(main) {
  main().then(() => process.exit(0), (err) => {
    const detail = err && err.response ? { status: err.response.status, data: err.response.data } : {};
    process.stderr.write(`FAILED: ${err && err.stack ? err.stack : err}\n${JSON.stringify(detail)}\n`);
    process.exit(1);
  });
}

module.exports = { assert, config, http, createSandbox, toolboxConfiguration, emit, run };
