// @daytonaio/sdk 0.108.1 (installed as sdk0108) end to end against the control-plane
// facade (see sdk-flow.js). 0.108 cannot name a sandbox, reaches the toolbox through
// {api}/toolbox/{id}/toolbox/..., base64-wraps commands, and lists with
// GET {api}/sandbox/paginated.
'use strict';

const { Daytona } = require('sdk0108');
const { main } = require('./sdk-flow');

main({
  Daytona,
  version: '0.108.1',
  createName: false,
  async list(daytona, labels) {
    return (await daytona.list(labels)).items;
  },
});
