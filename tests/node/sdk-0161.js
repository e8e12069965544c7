// @daytonaio/sdk 0.161.0 (installed as sdk0161) end to end against the control-plane
// facade (see sdk-flow.js). 0.161 lists with GET {api}/sandbox/paginated.
'use strict';

const { Daytona } = require('sdk0161');
const { main } = require('./sdk-flow');

main({
  Daytona,
  version: '0.161.0',
  createName: true,
  async list(daytona, labels) {
    return (await daytona.list(labels)).items;
  },
});
