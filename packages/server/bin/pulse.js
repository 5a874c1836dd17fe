#!/usr/bin/env node
// Committed entry point, so that npm links the `pulse` bin on install, before the build runs.
import '../dist/src/cli.js';
