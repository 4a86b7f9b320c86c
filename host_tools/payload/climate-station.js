// City climate station payload formatter, payload format v2 (docs/payload-format.md).
//
// One file for The Things Stack (custom JavaScript payload formatter: decodeUplink,
// normalizeUplink, encodeDownlink, decodeDownlink) and ChirpStack v4 (codec functions of the same names).
// ECMAScript 5.1 only. Bad bytes give `errors`, never an exception.
//
// Uplinks on FPort 1 (samples, batches), 3 (status), 4 (command acks) are self-describing
// frames; FPort 2 carries Cayenne LPP. Downlink commands go on FPort 10.

var VERSION = 2; // uplink frames
var COMMAND_VERSION = 1; // downlink commands
var KEYS = ['temperature_c', 'humidity_pct', 'pressure_hpa', 'co2_ppm', 'pm1_0_ugm3',
  'pm2_5_ugm3', 'pm10_ugm3', 'voc_index', 'battery_v'];
var SCALE = [10, 2, 10, 1, 10, 10, 10, 1, 100];
var OFF = [400, 0, -3000, 0, 0, 0, 0, -1, 0];
var QMAX = [1250, 200, 8000, 40000, 10000, 10000, 10000, 499, 4000];
var FULL = [11, 8, 13, 16, 14, 14, 14, 9, 12];
var SLO = [300, 0, 6500, 350, 0, 0, 0, 0, 300];
var SBITS = [9, 0, 10, 10, 9, 9, 9, 0, 7];
var ESC = 8;
var MAX_EG_ZEROS = 16;
var SEQ_MOD = 256; // frames carry seq modulo 256
var PRESET = 0xFF; // presence when the header's preset bit is set: channels 0..7
var HUMIDITY = 1; // channel of humidity_pct: its presence bit decides how rh_high travels
var DEFAULT_MINUTES = 10; // the interval code is centred on 10-minute sampling
var RH_HIGH_Q = 140; // humidity q above this (70.0 %): rh_high, derived when humidity is sent
var EXT_BOOT_ID = 62; // extension channel: the station boot an uptime-based time belongs to
var BOOT_ID_BITS = 16; // a boot id is 1 .. 65535
var TIME_NOW = 0, TIME_AGE16 = 1, TIME_UNIX = 2, TIME_UPTIME = 3;
var RESETS = ['unknown', 'power_on', 'hard', 'watchdog', 'deep_sleep', 'soft', 'brownout'];
var SENSOR_TYPES = ['other', 'bme280', 'sht4x', 'scd4x', 'sps30', 'sgp40', 'sds011', 'pms5003',
  'scd30', 'bme680'];
var LASER_TYPES = ['sps30', 'sds011', 'pms5003'];
var ACK_STATUS = ['ok', 'bad_version', 'unknown_command', 'bad_length', 'out_of_range',
  'unknown_key', 'bad_value', 'storage', 'unsupported', 'not_ready'];
var COMMANDS = ['', 'set_interval', 'set_batch', 'set_datarate', 'request_status', 'reboot',
  'clear_journal', 'set_config', 'calibrate_co2'];
var FPORT_DATA = 1, FPORT_LPP = 2, FPORT_STATUS = 3, FPORT_ACK = 4, FPORT_COMMAND = 10;
// Cayenne LPP has no CO2, PM or VOC type: the stations send CO2 and the VOC index as
// illuminance and PM as analog input (decoded data names the type in lpp_types)
var LPP = {
  2: { size: 2, scale: 100, signed: true, name: 'analog input' },
  101: { size: 2, scale: 1, signed: false, name: 'illuminance' },
  103: { size: 2, scale: 10, signed: true, name: 'temperature' },
  104: { size: 1, scale: 2, signed: false, name: 'humidity' },
  115: { size: 2, scale: 10, signed: false, name: 'barometer' }
};
var LPP_DIGITAL_IN = 0;
var LPP_LEFT_OUT_CHANNEL = 10; // digital input: bit i = channel PM1 + i did not fit (> 327.67)
var PM1_0 = 4;

// --- config rules: written by tests/vectors/make_config_rules.py from firmware/config.py, do not edit
var CONFIG_RULES = {
  "batch": ["int", 1, 32],
  "calibrate_co2:reference_ppm": ["int", 400, 5000],
  "format": ["enum", ["compact", "lpp"]],
  "interval_s": ["int", 10, 86400],
  "journal.max_bytes": ["int", 8192, 4194304],
  "log_level": ["enum", ["D", "I", "W", "E"]],
  "lorawan.adr": ["bool"],
  "lorawan.confirmed": ["bool"],
  "lorawan.downlinks_per_day": ["int", 0, 100],
  "lorawan.dr": ["int", 0, 5],
  "lorawan.fair_use_s": ["int", 1, 3600],
  "lorawan.join_retries": ["int", 1, 100],
  "lorawan.port": ["int", 1, 223],
  "lorawan.receipts": ["bool"],
  "lorawan.region": ["site"],
  "lorawan.time_sync_h": ["int", 0, 720],
  "mqtt.ca_file": ["site"],
  "mqtt.host": ["site"],
  "mqtt.keepalive_s": ["int", 0, 3600],
  "mqtt.max_payload": ["int", 32, 4096],
  "mqtt.port": ["site"],
  "mqtt.prefix": ["site"],
  "mqtt.receipt_timeout_s": ["int", 10, 86400],
  "mqtt.receipts": ["bool"],
  "mqtt.timeout_s": ["int", 1, 60],
  "mqtt.tls": ["site"],
  "mqtt.user": ["site"],
  "ntp.host": ["str", 0, 64, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."],
  "ntp.port": ["int", 1, 65535],
  "ntp.resync_h": ["int", 1, 168],
  "ntp.timeout_s": ["int", 1, 10],
  "safe_mode.hold_s": ["int", 60, 604800],
  "safe_mode.resets": ["int", 2, 20],
  "safe_mode.window_s": ["int", 60, 604800],
  "scd4x.asc": ["enum", ["keep", "on", "off"]],
  "station_id": ["site"],
  "uplink": ["site"],
  "warmup_s": ["int", 0, 600],
  "wifi.connect_s": ["int", 5, 120],
  "wifi.country": ["site"],
  "wifi.power_down_s": ["int", 0, 86400]
};
// --- end of config rules

function FrameError(message) {
  this.message = message;
}

function fail(message) {
  throw new FrameError(message);
}

function Bits(bytes) {
  this.bytes = bytes;
  this.pos = 0;
  this.lim = bytes.length * 8;
}

Bits.prototype.get = function (n) {
  if (this.pos + n > this.lim) {
    fail('frame truncated');
  }
  var v = 0;
  for (var i = 0; i < n; i++) {
    var b = this.bytes[this.pos >> 3];
    v = v * 2 + ((b >> (7 - (this.pos & 7))) & 1);
    this.pos++;
  }
  return v;
};

Bits.prototype.unary = function (limit) {
  var u = 0;
  while (u < limit && this.get(1) === 1) {
    u++;
  }
  return u;
};

Bits.prototype.eg = function () {
  var zeros = 0;
  while (this.get(1) === 0) {
    zeros++;
    if (zeros > MAX_EG_ZEROS) {
      fail('Exp-Golomb code too long');
    }
  }
  return Math.pow(2, zeros) + this.get(zeros) - 1;
};

Bits.prototype.end = function () {
  var left = this.lim - this.pos;
  if (left >= 8) {
    fail(Math.floor(left / 8) + ' trailing byte(s) after the frame');
  }
  if (this.get(left) !== 0) {
    fail('padding bits not zero');
  }
};

function unzig(z) {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

function valueOf(ch, q) {
  return SCALE[ch] === 1 ? q - OFF[ch] : (q - OFF[ch]) / SCALE[ch];
}

function readValue(b, ch) {
  var q;
  if (SBITS[ch] === 0 || b.get(1) === 1) {
    q = b.get(FULL[ch]);
  } else {
    q = SLO[ch] + b.get(SBITS[ch]);
  }
  if (q > QMAX[ch]) {
    fail(KEYS[ch] + ' out of range');
  }
  return q;
}

function maskKeys(mask) {
  var out = [];
  for (var i = 0; i < KEYS.length; i++) {
    if (mask & (1 << i)) {
      out.push(KEYS[i]);
    }
  }
  return out;
}

// A sample state; preset is the header's preset bit for a frame's first state, else null
// (the bit starts the state).
function readState(b, preset) {
  if (preset === null) {
    preset = b.get(1);
  }
  var present = preset ? PRESET : b.get(9);
  var st = { present: present, rh: (present & (1 << HUMIDITY)) ? 0 : b.get(1), fault: 0, warmup: 0,
    implausible: 0, ext: [] };
  if (b.get(1)) {
    var which = b.get(3);
    var extended = which === 0; // extension channels follow the masks
    if (extended) { which = b.get(3); }
    if (which & 4) { st.fault = b.get(9); }
    if (which & 2) { st.warmup = b.get(9); }
    if (which & 1) { st.implausible = b.get(9); }
    if (extended) { st.ext = readExtension(b); }
  }
  return st;
}

// The extension list (spec 5.1): channels added after format v2's nine, each with its id and
// width so that a decoder which does not know a channel can step over it.
function readExtension(b) {
  var out = [], n = b.get(3) + 1;
  for (var i = 0; i < n; i++) {
    var id = b.get(6);
    if (id < KEYS.length) {
      fail('extension channel id ' + id + ' is a base channel');
    }
    var width = b.get(5) + 1;
    if (id === EXT_BOOT_ID && width > BOOT_ID_BITS) {
      fail('boot id ' + width + ' bits wide (at most ' + BOOT_ID_BITS + ')');
    }
    out.push({ id: id, raw: b.get(width) });
  }
  return out;
}

function readTime(b, kind) {
  if (kind === TIME_NOW) { return 0; }
  if (kind === TIME_AGE16) { return b.get(16); }
  return b.get(32);
}

function sampleObject(seq, kind, t, recvTime, st, qs) {
  var out = { seq: seq };
  if (kind === TIME_UNIX) {
    out.time = t;
  } else if (kind === TIME_UPTIME) {
    out.time = null;
    out.uptime_s = t;
  } else {
    if (t < 0) {
      fail('sample age negative');
    }
    out.time = recvTime === null ? null : recvTime - t;
    out.age_s = t;
  }
  var unknown = [];
  for (var e = 0; e < st.ext.length; e++) {
    if (st.ext[e].id === EXT_BOOT_ID) {
      // which boot the uptime counts from: uptimes of two boots are never one time line
      out.boot_id = st.ext[e].raw;
    } else {
      unknown.push({ id: st.ext[e].id, raw: st.ext[e].raw }); // reported, not understood
    }
  }
  for (var ch = 0; ch < KEYS.length; ch++) {
    if (st.present & (1 << ch)) {
      out[KEYS[ch]] = valueOf(ch, qs[ch]);
    }
  }
  if (unknown.length) {
    out.unknown_channels = unknown;
  }
  // the time kind says whether the clock was synced (2 unix: yes, 3 uptime: no); kinds 0/1
  // take the time from the receiver. rh_high is derived from the humidity when it is sent.
  out.health = {
    clock_synced: kind === TIME_UNIX ? true : (kind === TIME_UPTIME ? false : null),
    rh_high: (st.present & (1 << HUMIDITY)) ? qs[1] > RH_HIGH_Q : st.rh !== 0,
    fault: maskKeys(st.fault),
    warmup: maskKeys(st.warmup),
    implausible: maskKeys(st.implausible)
  };
  return out;
}

function decodeSampleFrame(b, kind, preset, recvTime) {
  var seq = b.get(8);
  var t = readTime(b, kind);
  var st = readState(b, preset);
  var qs = [];
  for (var ch = 0; ch < KEYS.length; ch++) {
    qs.push(st.present & (1 << ch) ? readValue(b, ch) : 0);
  }
  b.end();
  return [sampleObject(seq, kind, t, recvTime, st, qs)];
}

function decodeBatchFrame(b, kind, preset, recvTime) {
  var count = b.get(6) + 1;
  var seq0 = b.get(8);
  var tLast = readTime(b, kind); // the newest (last) sample's time
  var interval = b.get(1) ? (DEFAULT_MINUTES + unzig(b.eg())) * 60 : b.get(17);
  if (interval <= 0) {
    fail('batch interval not positive');
  }
  var uniform = b.get(1);
  var st = readState(b, preset);
  var union = b.get(1) ? st.present : b.get(9);
  var ks = [], prev = [], ch;
  for (ch = 0; ch < KEYS.length; ch++) {
    ks.push(union & (1 << ch) ? b.get(3) : 0);
    prev.push(null);
  }
  // extras: per channel a step (deltas in its units) and the zero-run mode (segments of zero
  // deltas, each run length then one non-zero delta, sent as zigzag - 1)
  var steps = [], runs = [], pending = [], nonzero = [], extras = b.get(1);
  for (ch = 0; ch < KEYS.length; ch++) {
    var used = extras && (union & (1 << ch));
    steps.push(used ? b.eg() + 1 : 1);
    runs.push(used ? b.get(1) : 0);
    pending.push(0);
    nonzero.push(false);
  }
  var rows = [], rel = 0;
  for (var i = 0; i < count; i++) {
    if (i > 0) {
      var step = interval;
      if (!uniform && b.get(1)) {
        if (b.get(1)) {
          st = readState(b, null);
        }
        step += unzig(b.eg());
      }
      rel += step;
    }
    if (st.present & ~union) {
      fail("sample has a channel missing from the batch's channel mask");
    }
    var qs = [];
    for (ch = 0; ch < KEYS.length; ch++) {
      var q = 0;
      if (st.present & (1 << ch)) {
        var r = 0;
        if (prev[ch] === null) {
          q = readValue(b, ch);
        } else if (runs[ch] && pending[ch] > 0) {
          pending[ch]--;
          q = prev[ch];
        } else if (runs[ch] && !nonzero[ch] && (r = b.eg()) > 0) {
          pending[ch] = r - 1;
          nonzero[ch] = true;
          q = prev[ch];
        } else {
          nonzero[ch] = false;
          var u = b.unary(ESC);
          if (u === ESC) {
            q = readValue(b, ch);
          } else {
            var k = ks[ch];
            q = prev[ch] + unzig(u * Math.pow(2, k) + b.get(k) + runs[ch]) * steps[ch];
            if (q < 0 || q > QMAX[ch]) {
              fail(KEYS[ch] + ' out of range');
            }
          }
        }
        prev[ch] = q;
      }
      qs.push(q);
    }
    rows.push({ st: st, qs: qs, rel: rel });
  }
  for (ch = 0; ch < KEYS.length; ch++) {
    if (pending[ch] > 0) {
      fail('a run of zero deltas reaches past the batch');
    }
  }
  b.end();
  var out = [];
  for (i = 0; i < rows.length; i++) {
    var before = rel - rows[i].rel; // seconds before the newest sample
    var t = kind >= TIME_UNIX ? tLast - before : tLast + before;
    out.push(sampleObject((seq0 + i) % SEQ_MOD, kind, t, recvTime, rows[i].st, rows[i].qs));
  }
  return out;
}

function hex2(bytes, from, to) {
  var s = '';
  for (var i = from; i < to; i++) {
    s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  }
  return s;
}

function decodeStatus(bytes) {
  if (bytes.length < 16) {
    fail('status frame truncated');
  }
  var n = bytes[15] & 0x3f; // bit 7: Wi-Fi block, bit 6: dropped count; bit 5 set is > 16 sensors
  var wifi = null;
  if (bytes[15] & 0x80) {
    // firmware with Wi-Fi: the frame ends with rssi (i8 dBm) and the network's index
    if (bytes.length < 18 + n) {
      fail('status frame length ' + bytes.length + ' does not match ' + n + ' sensors');
    }
    var r = bytes[bytes.length - 2];
    wifi = { rssi_dbm: r > 127 ? r - 256 : r, network: bytes[bytes.length - 1] };
    bytes = bytes.slice(0, bytes.length - 2);
  }
  var dropped = null;
  if (bytes[15] & 0x40) {
    // firmware with a journal: the records it lost before delivery (u32), after the run hours
    if (bytes.length < 20 + n) {
      fail('status frame length ' + bytes.length + ' does not match ' + n + ' sensors');
    }
    var d = bytes.length - 4;
    dropped = ((bytes[d] * 256 + bytes[d + 1]) * 256 + bytes[d + 2]) * 256 + bytes[d + 3];
    bytes = bytes.slice(0, d);
  }
  if (n > 16) {
    fail('status frame lists more than 16 sensors');
  }
  if (bytes.length < 16 + n) {
    fail('status frame length ' + bytes.length + ' does not match ' + n + ' sensors');
  }
  var sensors = [];
  var lasers = [];
  for (var i = 16; i < 16 + n; i++) {
    var id = bytes[i] & 0x7f;
    if (id >= SENSOR_TYPES.length) {
      fail('unknown sensor type id ' + id);
    }
    var sensor = { type: SENSOR_TYPES[id], faulty: (bytes[i] & 0x80) !== 0 };
    if (LASER_TYPES.indexOf(sensor.type) >= 0) {
      lasers.push(sensor);
    }
    sensors.push(sensor);
  }
  if (lasers.length > 0 && bytes.length === 16 + n + 2 * lasers.length) {
    // run hours of each laser sensor, in the order listed
    for (var k = 0; k < lasers.length; k++) {
      lasers[k].laser_h = bytes[16 + n + 2 * k] * 256 + bytes[17 + n + 2 * k];
    }
  } else if (bytes.length !== 16 + n) {
    fail('status frame length ' + bytes.length + ' does not match ' + n + ' sensors');
  }
  if (bytes[8] >= RESETS.length) {
    fail('unknown reset cause ' + bytes[8]);
  }
  var out = {
    frame: 'status',
    fw: bytes[1] + '.' + bytes[2] + '.' + bytes[3],
    config: hex2(bytes, 4, 8),
    reset: RESETS[bytes[8]],
    uptime_s: ((bytes[9] * 256 + bytes[10]) * 256 + bytes[11]) * 256 + bytes[12],
    journal: bytes[13] * 256 + bytes[14],
    sensors: sensors
  };
  if (dropped !== null) {
    out.dropped = dropped;
  }
  if (wifi !== null) {
    out.wifi = wifi;
  }
  return out;
}

function decodeAck(bytes) {
  if (bytes.length !== 3 && bytes.length !== 5) {
    fail('ack frame must be 3 or 5 bytes, got ' + bytes.length);
  }
  if (bytes[2] >= ACK_STATUS.length) {
    fail('unknown ack status ' + bytes[2]);
  }
  var out = { frame: 'ack', cmd_id: bytes[1], status: bytes[2], result: ACK_STATUS[bytes[2]] };
  if (bytes.length === 5) {
    // a measured answer (calibrate_co2: the correction applied, ppm), signed 16 bit
    var v = bytes[3] * 256 + bytes[4];
    out.value = v >= 32768 ? v - 65536 : v;
  }
  return out;
}

function decodeLpp(bytes) {
  var out = {}, types = {}, leftOut = [], i = 0;
  if (bytes.length === 0) {
    fail('empty LPP frame');
  }
  while (i < bytes.length) {
    if (i + 2 > bytes.length) {
      fail('LPP frame truncated');
    }
    if (bytes[i] === LPP_LEFT_OUT_CHANNEL && bytes[i + 1] === LPP_DIGITAL_IN) {
      if (i + 3 > bytes.length) {
        fail('LPP frame truncated');
      }
      var mask = bytes[i + 2];
      if (mask === 0 || mask >> 3) {
        fail('LPP left-out mask ' + mask + ' names no PM channel');
      }
      for (var m = 0; m < 3; m++) {
        if (mask & (1 << m)) { leftOut.push(KEYS[PM1_0 + m]); }
      }
      i += 3;
      continue;
    }
    var ch = bytes[i] - 1, type = LPP[bytes[i + 1]];
    if (ch < 0 || ch >= KEYS.length) {
      fail('unknown LPP channel ' + bytes[i]);
    }
    if (!type) {
      fail('unsupported LPP type ' + bytes[i + 1]);
    }
    if (i + 2 + type.size > bytes.length) {
      fail('LPP frame truncated');
    }
    var raw = 0;
    for (var j = 0; j < type.size; j++) {
      raw = raw * 256 + bytes[i + 2 + j];
    }
    if (type.signed && raw >= 32768) {
      raw -= 65536;
    }
    out[KEYS[ch]] = raw / type.scale;
    types[KEYS[ch]] = type.name;
    i += 2 + type.size;
  }
  out.lpp_types = types;
  if (leftOut.length) {
    out.left_out = leftOut; // above 327.67 ug/m3: more than LPP's analog input holds
  }
  return out;
}

// Extension channels this decoder does not know (spec 5.1): one warning per channel id.
function unknownChannelWarnings(samples, warnings) {
  var seen = {}, ids = [], i, j;
  for (i = 0; i < samples.length; i++) {
    var u = samples[i].unknown_channels || [];
    for (j = 0; j < u.length; j++) {
      if (!seen[u[j].id]) {
        seen[u[j].id] = true;
        ids.push(u[j].id);
      }
    }
  }
  ids.sort(function (a, b) { return a - b; });
  for (i = 0; i < ids.length; i++) {
    warnings.push('channel ' + ids[i] + ' is not known to this decoder (raw value in unknown_channels)');
  }
}

function checkBytes(bytes) {
  if (!bytes || typeof bytes.length !== 'number') {
    fail('no bytes');
  }
  for (var i = 0; i < bytes.length; i++) {
    var v = bytes[i];
    if (typeof v !== 'number' || v < 0 || v > 255 || Math.floor(v) !== v) {
      fail('byte ' + i + ' is not 0..255');
    }
  }
}

function recvSeconds(input) {
  var r = input.recvTime;
  if (r === undefined || r === null) {
    return null;
  }
  var ms = r instanceof Date ? r.getTime() : Date.parse(r);
  return isNaN(ms) ? null : Math.floor(ms / 1000);
}

// Decode one uplink frame: {data, warnings, errors}. Sample frames give data.frame "sample"
// and the sample's fields; batches give data.samples (oldest first); status and acks
// data.frame "status" / "ack".
function decodeUplink(input) {
  try {
    var bytes = input.bytes;
    checkBytes(bytes);
    var port = input.fPort;
    if (port === FPORT_LPP) {
      var lpp = decodeLpp(bytes), lppWarnings = [];
      lpp.frame = 'lpp';
      for (var lo = 0; lpp.left_out && lo < lpp.left_out.length; lo++) {
        lppWarnings.push(lpp.left_out[lo] + ' above 327.67 ug/m3 did not fit Cayenne LPP and was left out');
      }
      return { data: lpp, warnings: lppWarnings, errors: [] };
    }
    if (port !== undefined && port !== null && port !== FPORT_DATA && port !== FPORT_STATUS &&
        port !== FPORT_ACK) {
      fail('no frames are sent on FPort ' + port);
    }
    if (bytes.length === 0) {
      fail('empty frame');
    }
    var h = bytes[0];
    if (h >> 5 === 1) {
      fail('frame format version 1 (pre-release firmware) is not decoded: update the station');
    }
    if (h >> 5 !== VERSION) {
      fail('unknown frame version ' + (h >> 5));
    }
    var type = (h >> 3) & 3;
    if (type >= 2) {
      if (h & 7) {
        fail('reserved header bits set');
      }
      return { data: type === 2 ? decodeStatus(bytes) : decodeAck(bytes), warnings: [], errors: [] };
    }
    var b = new Bits(bytes);
    b.get(8);
    var kind = (h >> 1) & 3;
    var warnings = [];
    var recv = recvSeconds(input);
    if (kind < TIME_UNIX && recv === null) {
      warnings.push('no receive time: sample times left null (see age_s)');
    }
    var samples = type === 0 ? decodeSampleFrame(b, kind, h & 1, recv) :
      decodeBatchFrame(b, kind, h & 1, recv);
    unknownChannelWarnings(samples, warnings);
    if (type === 0) {
      var s = samples[0];
      var data = { frame: 'sample' };
      for (var key in s) {
        if (Object.prototype.hasOwnProperty.call(s, key)) {
          data[key] = s[key];
        }
      }
      return { data: data, warnings: warnings, errors: [] };
    }
    return { data: { frame: 'batch', samples: samples }, warnings: warnings, errors: [] };
  } catch (e) {
    if (e instanceof FrameError) {
      return { data: {}, warnings: [], errors: [e.message] };
    }
    return { data: {}, warnings: [], errors: ['decoder error: ' + String(e)] };
  }
}

function intArg(data, key, lo, hi) {
  var v = data[key];
  if (typeof v !== 'number' || Math.floor(v) !== v || v < lo || v > hi) {
    fail(key + ' must be an integer ' + lo + '..' + hi);
  }
  return v;
}

// Why the station would refuse `value` for config key `key` (null: it accepts it): the checks
// of firmware/config.py, kind by kind, on the rules generated from it (CONFIG_RULES).
function ruleProblem(key, value) {
  var r = Object.prototype.hasOwnProperty.call(CONFIG_RULES, key) ? CONFIG_RULES[key] : null;
  if (r === null) {
    return 'unknown config key ' + JSON.stringify(key) +
      ' (secrets and sections cannot be set by a command)';
  }
  var kind = r[0];
  if (kind === 'int') {
    if (typeof value !== 'number' || Math.floor(value) !== value || value < r[1] || value > r[2]) {
      return key + ' must be an integer ' + r[1] + '..' + r[2];
    }
  } else if (kind === 'float') {
    if (typeof value !== 'number' || !isFinite(value) || value < r[1] || value > r[2]) {
      return key + ' must be a number ' + r[1] + '..' + r[2];
    }
  } else if (kind === 'bool') {
    if (typeof value !== 'boolean') {
      return key + ' must be true or false';
    }
  } else if (kind === 'enum') {
    if (r[1].indexOf(value) < 0) {
      return key + ' must be one of ' + r[1].join(', ');
    }
  } else if (kind === 'str') {
    if (typeof value !== 'string') {
      return key + ' must be text';
    }
    if (value.length < r[1] || value.length > r[2]) {
      return key + ' must be ' + r[1] + '..' + r[2] + ' characters';
    }
    for (var i = 0; r[3] !== null && i < value.length; i++) {
      if (r[3].indexOf(value.charAt(i)) < 0) {
        return key + ' may only contain ' + r[3];
      }
    }
  } else if (kind === 'site') {
    return key + ': set on site only (a wrong value would cut the command channel)';
  } else {
    return key + ' cannot be set by a command';
  }
  return null;
}

function checkedArg(data, arg, key, lo, hi) {
  var v = intArg(data, arg, lo, hi);
  var problem = ruleProblem(key, v);
  if (problem !== null) {
    fail(problem);
  }
  return v;
}

// CRC-8 (polynomial 0x07, initial 0): the default cmd_id, a fingerprint of the command.
function crc8(bytes) {
  var crc = 0;
  for (var i = 0; i < bytes.length; i++) {
    crc ^= bytes[i];
    for (var b = 0; b < 8; b++) {
      crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
  }
  return crc;
}

function utf8(s) {
  var out = [];
  for (var i = 0; i < s.length; i++) {
    var c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
    }
    if (c < 0x80) {
      out.push(c);
    } else if (c < 0x800) {
      out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    } else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    } else {
      out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
  }
  return out;
}

// Strict UTF-8 to a string; null when the bytes are not valid UTF-8.
function fromUtf8(bytes, from, to) {
  var s = '', i = from;
  while (i < to) {
    var b = bytes[i], n = 0, c, min;
    if (b < 0x80) { c = b; n = 0; min = 0; }
    else if (b >= 0xc2 && b < 0xe0) { c = b & 31; n = 1; min = 0x80; }
    else if (b >= 0xe0 && b < 0xf0) { c = b & 15; n = 2; min = 0x800; }
    else if (b >= 0xf0 && b < 0xf5) { c = b & 7; n = 3; min = 0x10000; }
    else { return null; }
    for (var j = 1; j <= n; j++) {
      var cb = bytes[i + j];
      if (cb === undefined || i + j >= to || (cb & 0xc0) !== 0x80) { return null; }
      c = c * 64 + (cb & 63);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) { return null; }
    if (c >= 0x10000) {
      c -= 0x10000;
      s += String.fromCharCode(0xd800 + (c >> 10), 0xdc00 + (c & 1023));
    } else {
      s += String.fromCharCode(c);
    }
    i += n + 1;
  }
  return s;
}

// Encode a downlink command: input.data = {command: name, cmd_id: 0..255, ...arguments}.
// Everything the station would refuse is refused here (its config rules, CONFIG_RULES), so no
// scarce downlink is spent on an error ack. cmd_id defaults to a CRC-8 of the command (the ack
// echoes it and so names the command it answers). Commands go on FPort 10 only: the station
// drops anything else, so another input.fPort (ChirpStack passes the queue item's) is an error.
function encodeDownlink(input) {
  try {
    var data = input.data;
    if (!data || typeof data !== 'object') {
      fail('data must be an object');
    }
    if (input.fPort !== undefined && input.fPort !== null && input.fPort !== FPORT_COMMAND) {
      fail('commands go on FPort ' + FPORT_COMMAND + ' (the station drops other ports), not ' +
        input.fPort);
    }
    var op = -1;
    for (var i = 1; i < COMMANDS.length; i++) {
      if (COMMANDS[i] === data.command) {
        op = i;
      }
    }
    if (op < 0) {
      fail('unknown command ' + JSON.stringify(data.command) + ' (one of ' +
        COMMANDS.slice(1).join(', ') + ')');
    }
    var name = COMMANDS[op];
    var allowed = { set_interval: ['interval_s'], set_batch: ['batch'], set_datarate: ['adr', 'dr'],
      set_config: ['key', 'value'], calibrate_co2: ['reference_ppm'] }[name] || [];
    for (var k in data) {
      if (Object.prototype.hasOwnProperty.call(data, k) && k !== 'command' && k !== 'cmd_id' &&
          allowed.indexOf(k) < 0) {
        fail(name + ' takes ' + (allowed.length ? allowed.join(', ') : 'no arguments') +
          ', not ' + k);
      }
    }
    var body = [];
    if (name === 'set_interval') {
      var s = checkedArg(data, 'interval_s', 'interval_s', 0, 16777215);
      body.push((s >> 16) & 255, (s >> 8) & 255, s & 255);
    } else if (name === 'set_batch') {
      body.push(checkedArg(data, 'batch', 'batch', 0, 255));
    } else if (name === 'calibrate_co2') {
      // the SCD4x reference range the station accepts (firmware/commands.py, via CONFIG_RULES)
      var ref = CONFIG_RULES['calibrate_co2:reference_ppm'];
      var ppm = intArg(data, 'reference_ppm', ref[1], ref[2]);
      body.push((ppm >> 8) & 255, ppm & 255);
    } else if (name === 'set_datarate') {
      if (typeof data.adr !== 'boolean') {
        fail('adr must be true or false');
      }
      body.push((data.adr ? 0x80 : 0) | checkedArg(data, 'dr', 'lorawan.dr', 0, 15));
    } else if (name === 'set_config') {
      if (typeof data.key !== 'string') {
        fail('key must be text');
      }
      var key = utf8(data.key);
      if (key.length < 1 || key.length > 32) {
        fail('key must be 1..32 characters');
      }
      if (data.value === undefined) {
        fail('value is missing');
      }
      if (typeof data.value === 'number' && !isFinite(data.value)) {
        fail('value cannot be sent as JSON (' + data.value + ')');
      }
      var value = utf8(JSON.stringify(data.value));
      if (value.length > 64) {
        fail('value must encode to at most 64 bytes of JSON');
      }
      if (!/^[A-Za-z0-9._]+$/.test(data.key)) {
        fail('unknown config key ' + JSON.stringify(data.key) + " (keys are letters, digits, '.', '_')");
      }
      var problem = ruleProblem(data.key, data.value);
      if (problem !== null) {
        fail(problem);
      }
      body.push(key.length);
      body = body.concat(key, value);
    }
    var head = [(COMMAND_VERSION << 5) | op];
    var cmdId = data.cmd_id === undefined || data.cmd_id === null ? crc8(head.concat(body)) :
      intArg(data, 'cmd_id', 0, 255);
    return { bytes: head.concat([cmdId], body), fPort: FPORT_COMMAND, warnings: [], errors: [] };
  } catch (e) {
    if (e instanceof FrameError) {
      return { errors: [e.message], warnings: [] };
    }
    return { errors: ['encoder error: ' + String(e)], warnings: [] };
  }
}

// Decode a downlink command (what the station will receive): {data, warnings, errors}.
function decodeDownlink(input) {
  try {
    var p = input.bytes;
    checkBytes(p);
    if (input.fPort !== undefined && input.fPort !== null && input.fPort !== FPORT_COMMAND) {
      fail('commands are sent on FPort ' + FPORT_COMMAND);
    }
    if (p.length < 2) {
      fail('command truncated');
    }
    if (p[0] >> 5 !== COMMAND_VERSION) {
      fail('unknown command version ' + (p[0] >> 5));
    }
    var op = p[0] & 0x1f;
    if (op === 0 || op >= COMMANDS.length) {
      fail('unknown command opcode ' + op);
    }
    var name = COMMANDS[op];
    var data = { command: name, cmd_id: p[1] };
    var sizes = { set_interval: 3, set_batch: 1, set_datarate: 1, request_status: 0, reboot: 0,
      clear_journal: 0, calibrate_co2: 2 };
    if (sizes[name] !== undefined && p.length - 2 !== sizes[name]) {
      fail(name + ' needs ' + sizes[name] + ' argument byte(s), got ' + (p.length - 2));
    }
    if (name === 'set_interval') {
      data.interval_s = (p[2] * 256 + p[3]) * 256 + p[4];
    } else if (name === 'set_batch') {
      data.batch = p[2];
    } else if (name === 'calibrate_co2') {
      data.reference_ppm = p[2] * 256 + p[3];
    } else if (name === 'set_datarate') {
      if (p[2] & 0x70) {
        fail('set_datarate: reserved bits set');
      }
      data.adr = (p[2] & 0x80) !== 0;
      data.dr = p[2] & 0x0f;
    } else if (name === 'set_config') {
      var klen = p.length > 2 ? p[2] : 0;
      if (klen < 1 || klen > 32 || p.length < 3 + klen + 1) {
        fail('set_config: bad key length');
      }
      if (p.length - 3 - klen > 64) {
        fail('set_config: value longer than 64 bytes');
      }
      var key = '', i;
      for (i = 3; i < 3 + klen; i++) {
        if (p[i] > 127) {
          fail('set_config: bad key or value (key is not ASCII)');
        }
        key += String.fromCharCode(p[i]);
      }
      var text = fromUtf8(p, 3 + klen, p.length);
      if (text === null) {
        fail('set_config: bad key or value (value is not UTF-8)');
      }
      data.key = key;
      try {
        data.value = JSON.parse(text);
      } catch (err) {
        fail('set_config: bad key or value (value is not JSON)');
      }
    }
    return { data: data, warnings: [], errors: [] };
  } catch (e) {
    if (e instanceof FrameError) {
      return { data: {}, warnings: [], errors: [e.message] };
    }
    return { data: {}, warnings: [], errors: ['decoder error: ' + String(e)] };
  }
}

function isoTime(t) {
  return new Date(t * 1000).toISOString();
}

// The Things Stack's normalized payload (lorawan-devices lib/payload.json): one measurement
// per sample, with its time when known (a batch gives one per sample). Only air.temperature,
// air.relativeHumidity, air.pressure (the schema allows 900..1100 hPa only: other pressures
// are left out, with a warning) and air.co2 have a field there; PM, the VOC index and the
// battery have none and stay in the decoded `data`.
function normalizeUplink(input) {
  var data = input.data || {};
  var samples = data.frame === 'batch' ? data.samples :
    (data.frame === 'sample' || data.frame === 'lpp' ? [data] : null);
  if (samples === null) {
    return { data: [], warnings: [(data.frame || 'unknown') + ' frame: no measurements'],
      errors: [] };
  }
  var out = [], warnings = [];
  for (var i = 0; i < samples.length; i++) {
    var s = samples[i], m = {}, air = {}, n = 0;
    if (typeof s.time === 'number') {
      m.time = isoTime(s.time);
    }
    if (typeof s.temperature_c === 'number') { air.temperature = s.temperature_c; n++; }
    if (typeof s.humidity_pct === 'number') { air.relativeHumidity = s.humidity_pct; n++; }
    if (typeof s.pressure_hpa === 'number') {
      if (s.pressure_hpa >= 900 && s.pressure_hpa <= 1100) {
        air.pressure = s.pressure_hpa;
        n++;
      } else {
        warnings.push('pressure ' + s.pressure_hpa +
          ' hPa is outside the normalized range 900..1100: left out');
      }
    }
    if (typeof s.co2_ppm === 'number') { air.co2 = s.co2_ppm; n++; }
    if (n) {
      m.air = air;
    }
    out.push(m);
  }
  return { data: out, warnings: warnings, errors: [] };
}

if (typeof module !== 'undefined' && module.exports) {
  module.exports = { decodeUplink: decodeUplink, normalizeUplink: normalizeUplink,
    encodeDownlink: encodeDownlink, decodeDownlink: decodeDownlink };
}
