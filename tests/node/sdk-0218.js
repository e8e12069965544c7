// @daytonaio/sdk 0.218.0 end to end against the control-plane facade (see sdk-flow.js).
// 0.218 lists with GET {api}/sandbox, cursor-paginated, through an async iterator.
'use strict';

const { Daytona } = require('@daytonaio/sdk');
const { main } = require('./sdk-flow');

main({
  Daytona,
  version: '0.218.0',
  createName: true,
  async list(daytona, labels) {
    const found = [];
    for await (const sandbox of daytona.list({ labels })) found.push(sandbox);
    return found;
  },
});
