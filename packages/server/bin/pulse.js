#!/bin/sh
//bin/true; exec node --max-semi-space-size=8 "$0" "$@"
// Committed entry point, so that npm links the `pulse` bin on install, before the build runs.
// Read by sh first (the line above: //bin/true is /bin/true, then exec), then by node (a comment):
// the command runs node with those flags (docs/BENCHMARKS.md, scenario c), a young
// generation of at most 8 MiB per semi-space instead of 16, so that a burst of long-lived
// connections does not leave grown semi-spaces behind; 4 cost 15-25 % of throughput. Not `#!/usr/bin/env -S node
// FLAGS`: BusyBox's env (Alpine images) has no -S, and the command did not start there.
// `node` ignores these lines when it is given this file (`node bin/pulse.js`): run
// `node --max-semi-space-size=8 ...` then. The bench reads its flags from here
// (packages/bench/src/targets/launch.ts).
// It runs the bundle of dist/src (scripts/bundle-server.mjs, part of `npm run build`): the same
// code in ~12 files instead of ~210, which a fresh server needs ~6 MiB less memory for.
import '../dist/bundle/cli.js';
