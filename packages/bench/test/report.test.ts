import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../src/args.js';
import { BEGIN, DURABLE_BLOCK, END, replaceGenerated } from '../src/report/doc.js';

describe('replaceGenerated', () => {
  it('replaces only what is between the markers', () => {
    const doc = `# B\n\nintro\n\n${BEGIN}\nold table\n${END}\n\n## Analysis\nkeep me\n`;
    const out = replaceGenerated(doc, 'new table\n');
    assert.equal(out, `# B\n\nintro\n\n${BEGIN}\nnew table\n${END}\n\n## Analysis\nkeep me\n`);
    assert.equal(replaceGenerated(out, 'new table'), out);
  });

  it('ignores markers quoted in prose', () => {
    const doc = `Between \`${BEGIN}\` and \`${END}\`.\n\n${BEGIN}\nold\n${END}\n`;
    assert.equal(
      replaceGenerated(doc, 'new'),
      `Between \`${BEGIN}\` and \`${END}\`.\n\n${BEGIN}\nnew\n${END}\n`,
    );
  });

  it('appends the markers to a document without them', () => {
    assert.match(replaceGenerated('# B\n', 't'), new RegExp(`${BEGIN}\\nt\\n${END}\\n$`));
  });

  it('keeps d1 in a block of its own', () => {
    const { begin, end } = DURABLE_BLOCK;
    const doc = `${BEGIN}\nall\n${END}\n\n${begin}\nold d1\n${end}\n`;
    assert.equal(
      replaceGenerated(doc, 'new d1', DURABLE_BLOCK),
      `${BEGIN}\nall\n${END}\n\n${begin}\nnew d1\n${end}\n`,
    );
    assert.equal(replaceGenerated(doc, 'new'), `${BEGIN}\nnew\n${END}\n\n${begin}\nold d1\n${end}\n`);
    const appended = replaceGenerated(`${BEGIN}\nall\n${END}\n`, 'd1', DURABLE_BLOCK);
    assert.ok(appended.endsWith(`## Results: durable storage (d1)\n\n${begin}\nd1\n${end}\n`), appended);
  });
});

describe('parseBenchArgs', () => {
  it('selects scenarios and targets by name or alias', () => {
    const o = parseBenchArgs(['--only', 'a,idle', '--targets', 'pulse,nats-server,ws', '--quick']);
    assert.notEqual(o, 'help');
    if (o === 'help') return;
    assert.deepEqual(o.scenarios, ['a', 'c']);
    assert.deepEqual(o.targets, ['pulse', 'naive-ws', 'nats']);
    assert.equal(o.quick, true);
    assert.equal(o.idleConnections, 2000);
  });

  it('selects the MQTT scenarios and targets, by name, alias or group', () => {
    const o = parseBenchArgs(['--only', 'mqtt,a', '--targets', 'aedes,mosquitto,pulse']);
    assert.notEqual(o, 'help');
    if (o === 'help') return;
    assert.deepEqual(o.scenarios, ['a', 'c2', 'm1', 'm2', 'm3']);
    // `mosquitto` stands for both of its runs.
    assert.deepEqual(o.targets, ['pulse', 'mosquitto', 'mosquitto-nodelay', 'aedes']);
    assert.equal(o.mqttPayloadSize, 128);
    const p = parseBenchArgs([
      '--only',
      'm1,mqtt-retained',
      '--mqtt-windows',
      '64,512',
      '--targets',
      'mosquitto-nodelay',
    ]);
    assert.notEqual(p, 'help');
    if (p === 'help') return;
    assert.deepEqual(p.scenarios, ['m1', 'm3']);
    assert.deepEqual(p.mqttWindows, [64, 512]);
    assert.deepEqual(p.targets, ['mosquitto-nodelay']);
    assert.throws(() => parseBenchArgs(['--mqtt-windows', '256,5000']), /at most 1000/);
  });

  it('selects d1 and its targets', () => {
    const o = parseBenchArgs(['--only', 'durable', '--targets', 'pulse,pulse-sqlite,mosquitto-persist']);
    assert.notEqual(o, 'help');
    if (o === 'help') return;
    assert.deepEqual(o.scenarios, ['d1']);
    assert.deepEqual(o.targets, [
      'pulse',
      'pulse-sqlite-strict',
      'pulse-sqlite-balanced',
      'pulse-sqlite-fast',
      'mosquitto-persist',
    ]);
    const all = parseBenchArgs(['--targets', 'durable']);
    assert.notEqual(all, 'help');
    if (all === 'help') return;
    assert.equal(all.targets.length, 6);
  });

  it('refuses unknown names', () => {
    assert.throws(() => parseBenchArgs(['--targets', 'kafka']), /unknown target "kafka"/);
    assert.throws(() => parseBenchArgs(['--procs', '0']), /--procs/);
  });
});
