import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pulseCommandFlags } from '../src/targets/launch.js';

test('the bench starts Pulse with the flags of the pulse command (bin/pulse.js)', () => {
  assert.deepEqual(pulseCommandFlags(), ['--max-semi-space-size=8']);
});
