// @daytonaio/sdk 0.218.0 and 0.161.0 authenticating to mock-runner the ways the SDK can:
// with the control-plane key as apiKey, and as a JWT with an organization (the only case
// where the SDK sends X-Daytona-Organization-ID); a wrong key and a name in use raise the
// SDK's error classes. Environment: MR_URL, MR_SDK_KEY (the runner's CONTROL_PLANE_API_KEY),
// MR_WORKDIR. Prints one JSON line per step (see sdk-flow.js).
'use strict';

const { config } = require('./lib');
const { step, failure } = require('./sdk-flow');

const SDKS = [
  { version: '0.218.0', Daytona: require('@daytonaio/sdk').Daytona },
  { version: '0.161.0', Daytona: require('sdk0161').Daytona },
];

async function roundTrip(daytona, tag) {
  const sandbox = await daytona.create({ name: tag, labels: { auth: tag } });
  const run = await sandbox.process.executeCommand('echo authorised');
  const again = await daytona.get(tag);
  await sandbox.delete();
  return {
    id: sandbox.id, organizationId: sandbox.organizationId, state: again.state,
    exitCode: run.exitCode, result: run.result,
  };
}

async function main() {
  const { url } = config();
  const apiUrl = `${url}/api`;
  const key = process.env.MR_SDK_KEY;
  for (const sdk of SDKS) {
    const v = sdk.version;
    await step(`api_key ${v}`, () => roundTrip(new sdk.Daytona({ apiUrl, apiKey: key, useDeprecatedPolling: true }),
      `auth-key-${v}`));
    await step(`jwt ${v}`, () => roundTrip(new sdk.Daytona({
      apiUrl, jwtToken: key, organizationId: 'org-sdk', useDeprecatedPolling: true,
    }), `auth-jwt-${v}`));
    await step(`wrong_key ${v}`, () => failure(() => new sdk.Daytona({
      apiUrl, apiKey: 'not-the-key', useDeprecatedPolling: true,
    }).get('anything')));
    await step(`name_in_use ${v}`, async () => {
      const daytona = new sdk.Daytona({ apiUrl, apiKey: key, useDeprecatedPolling: true });
      const first = await daytona.create({ name: `taken-${v}` });
      const second = await failure(() => daytona.create({ name: `taken-${v}` }));
      await first.delete();
      return second;
    });
  }
}

main().catch((err) => {
  process.stderr.write(`FAILED: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
