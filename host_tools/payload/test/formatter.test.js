// Node tests of the payload formatter: golden vectors, downlink round trips, and a fuzz of
// 30,000 random, truncated and bit-flipped frames that must give `errors`, never an exception.
// Run: node --test host_tools/payload/test/   (tests/test_payload_js.py runs it under pytest)
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');

const FILE = path.join(__dirname, '..', 'climate-station.js');
const c = require(FILE);
const golden = JSON.parse(fs.readFileSync(
  path.join(__dirname, '..', '..', '..', 'tests', 'vectors', 'golden.json'), 'utf8'));

function bytesOf(hex) {
  return Array.from(Buffer.from(hex, 'hex'));
}

function asList(data) {
  const d = Object.assign({}, data);
  const frame = d.frame;
  delete d.frame;
  if (frame === 'batch') return d.samples;
  if (frame === 'status' || frame === 'ack') return [Object.assign(d, { frame: frame })];
  return [d];
}

test('formatter is small enough for The Things Stack (< 40 KB)', () => {
  assert.ok(fs.statSync(FILE).size < 40 * 1024);
});

test('golden vectors decode to the shared expectations', () => {
  for (const v of golden.vectors) {
    for (const f of v.frames) {
      const input = { bytes: bytesOf(f.hex), fPort: v.fport };
      if (v.received_at !== null) input.recvTime = new Date(v.received_at * 1000);
      const out = c.decodeUplink(input);
      assert.deepStrictEqual(out.errors, [], v.name);
      assert.deepStrictEqual(asList(out.data), f.decoded, v.name);
    }
  }
});

test('invalid golden frames give one error each', () => {
  for (const b of golden.invalid) {
    const out = c.decodeUplink({ bytes: bytesOf(b.hex), fPort: b.fport });
    assert.strictEqual(out.errors.length, 1, b.name);
    assert.ok(out.errors[0].includes(b.error), b.name + ': ' + out.errors[0]);
  }
});

test('receive time as an ISO string (ChirpStack, TTS) turns ages into times', () => {
  const v = golden.vectors.find((x) => x.received_at !== null && x.kind === 'batch');
  const out = c.decodeUplink({ bytes: bytesOf(v.frames[0].hex), fPort: 1,
    recvTime: new Date(v.received_at * 1000).toISOString() });
  assert.deepStrictEqual(out.data.samples, v.frames[0].decoded);
  const none = c.decodeUplink({ bytes: bytesOf(v.frames[0].hex), fPort: 1 });
  assert.strictEqual(none.data.samples[0].time, null);
  assert.strictEqual(none.warnings.length, 1);
});

test('downlink commands round-trip through encodeDownlink and decodeDownlink', () => {
  const cmds = [
    { command: 'set_interval', cmd_id: 1, interval_s: 900 },
    { command: 'set_batch', cmd_id: 2, batch: 12 },
    { command: 'set_datarate', cmd_id: 3, adr: false, dr: 5 },
    { command: 'request_status', cmd_id: 4 },
    { command: 'reboot', cmd_id: 5 },
    { command: 'clear_journal', cmd_id: 255 },
    { command: 'set_config', cmd_id: 7, key: 'mqtt.keepalive_s', value: 300 },
    { command: 'set_config', cmd_id: 8, key: 'log_level', value: 'W' },
  ];
  for (const cmd of cmds) {
    const enc = c.encodeDownlink({ data: cmd });
    assert.deepStrictEqual(enc.errors, [], JSON.stringify(cmd));
    assert.strictEqual(enc.fPort, 10);
    const dec = c.decodeDownlink({ bytes: enc.bytes, fPort: 10 });
    assert.deepStrictEqual(dec.errors, []);
    assert.deepStrictEqual(dec.data, cmd);
  }
});

test('bad downlink requests give errors', () => {
  const bad = [
    {}, { data: null }, { data: { command: 'nope' } },
    { data: { command: 'set_interval', interval_s: -1 } },
    { data: { command: 'set_interval', interval_s: 1.5 } },
    { data: { command: 'set_batch', batch: '4' } },
    { data: { command: 'set_datarate', adr: 1, dr: 0 } },
    { data: { command: 'set_config', key: '', value: 1 } },
    { data: { command: 'set_config', key: 'log_level' } },
    { data: { command: 'set_config', key: 'k', value: 'x'.repeat(80) } },
    { data: { command: 'reboot', cmd_id: 256 } },
  ];
  for (const input of bad) {
    const out = c.encodeDownlink(input);
    assert.strictEqual(out.errors.length, 1, JSON.stringify(input));
    assert.strictEqual(out.bytes, undefined);
  }
});

// xorshift32: deterministic, so a failure can be reproduced
function rng(seed) {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

test('fuzz: 30,000 random, truncated and bit-flipped uplinks never throw', () => {
  const r = rng(20261121);
  const seeds = [];
  for (const v of golden.vectors) for (const f of v.frames) seeds.push([bytesOf(f.hex), v.fport]);
  const ports = [undefined, 1, 2, 3, 4, 7, 10];
  let errors = 0;
  let decoded = 0;
  for (let i = 0; i < 30000; i++) {
    let bytes;
    let port;
    const kind = i % 3;
    if (kind === 0) {
      bytes = [];
      const n = r() % 64;
      for (let j = 0; j < n; j++) bytes.push(r() & 255);
      port = ports[r() % ports.length];
    } else {
      const s = seeds[r() % seeds.length];
      bytes = s[0].slice();
      port = s[1];
      if (kind === 1) bytes = bytes.slice(0, r() % bytes.length);
      else {
        const bit = r() % (bytes.length * 8);
        bytes[bit >> 3] ^= 0x80 >> (bit & 7);
      }
    }
    const out = c.decodeUplink({ bytes: bytes, fPort: port });
    assert.ok(Array.isArray(out.errors) && Array.isArray(out.warnings));
    assert.ok(out.data !== null && typeof out.data === 'object');
    for (const e of out.errors) assert.ok(!e.startsWith('decoder error'), e);
    if (out.errors.length) errors++;
    else decoded++;
  }
  assert.ok(errors > 10000 && decoded > 1000, `errors ${errors}, decoded ${decoded}`);
});

test('fuzz: 10,000 random downlinks never throw', () => {
  const r = rng(7);
  for (let i = 0; i < 10000; i++) {
    const bytes = [(i % 2 ? 0x20 : r() & 255) | (r() & 7)];
    const n = r() % 24;
    for (let j = 0; j < n; j++) bytes.push(r() & 255);
    const out = c.decodeDownlink({ bytes: bytes, fPort: 10 });
    assert.ok(Array.isArray(out.errors));
    for (const e of out.errors) assert.ok(!e.startsWith('decoder error'), e);
  }
});

test('inputs that are not byte arrays give errors', () => {
  for (const input of [{}, { bytes: null }, { bytes: 'abc' }, { bytes: [1, 300] },
    { bytes: [0.5] }, { bytes: [-1] }]) {
    const out = c.decodeUplink(input);
    assert.strictEqual(out.errors.length, 1, JSON.stringify(input));
  }
});
