// Runs an ONNX model under ONNX Runtime on inputs read from .npy files and writes every output as .npy;
// tests use it as the reference for models whose tensors are too large for run_model.js's JSON, and for
// streaming models that carry a state from one call to the next.
//
// usage: node run_npy.js MODEL OUT_DIR [--steps K] [--carry OUTPUT=INPUT]... NAME=FILE.npy...
//   FILE may contain "{step}", replaced by the step number 0..K-1 (one input file per call).
//   --carry: after each call, output OUTPUT is fed as input INPUT of the next call (its first value is
//   the file given for INPUT).
//   Outputs go to OUT_DIR/<output>.npy, or OUT_DIR/<output>.<step>.npy with --steps; names are sanitized
//   as graft run does (characters other than letters, digits, '.', '_', '-' become '_').
// .npy support: little-endian, C order; float16 and bfloat16 tensors as their uint16 bit patterns.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const kinds = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array], '<u4': ['uint32', Uint32Array], '<u2': ['uint16', Uint16Array],
  '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array], '<f2': ['float16', Uint16Array],
};

function readNpy(file, wantType) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(file + ': not a .npy file');
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = b.toString('latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(file + ': Fortran order is not supported');
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const kind = kinds[descr];
  if (!kind) throw new Error(file + ': unsupported dtype ' + descr);
  const [type, Arr] = kind;
  const data = b.buffer.slice(b.byteOffset + start + hlen, b.byteOffset + b.length);
  const n = dims.reduce((a, d) => a * d, 1);
  let values = new Arr(data.slice(0, n * Arr.BYTES_PER_ELEMENT));
  // uint16 bit patterns stand for a bfloat16 or float16 input.
  if (type === 'uint16' && (wantType === 'bfloat16' || wantType === 'float16')) return new ort.Tensor(wantType, values, dims);
  if (type === 'bool') values = Uint8Array.from(values);
  return new ort.Tensor(type, values, dims);
}

function writeNpy(file, t) {
  const descr = {
    float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', int16: '<i2', int8: '|i1', uint64: '<u8',
    uint32: '<u4', uint16: '<u2', uint8: '|u1', bool: '|b1', float16: '<f2', bfloat16: '<u2',
  }[t.type];
  if (!descr) throw new Error('cannot write ' + t.type + ' output to ' + file);
  const shape = t.dims.length === 1 ? '(' + t.dims[0] + ',)' : '(' + t.dims.join(', ') + ')';
  let header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ', }';
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  let data = t.data;
  if (t.type === 'bool') data = Uint8Array.from(data, (x) => (x ? 1 : 0));
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = file + '.tmp-' + process.pid;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

const sanitize = (name) => name.replace(/[^A-Za-z0-9._-]/g, '_') || '_';

async function main() {
  const args = process.argv.slice(2);
  const [model, outDir] = args;
  let steps = 0;
  const carry = {};
  const files = {};
  for (let i = 2; i < args.length; ++i) {
    if (args[i] === '--steps') steps = Number(args[++i]);
    else if (args[i] === '--carry') {
      const [o, inp] = args[++i].split('=');
      carry[o] = inp;
    } else {
      const eq = args[i].indexOf('=');
      files[args[i].slice(0, eq)] = args[i].slice(eq + 1);
    }
  }
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: 'all'});
  const types = {};
  for (const meta of session.inputMetadata || []) if (meta && meta.name) types[meta.name] = meta.type;
  fs.mkdirSync(outDir, {recursive: true});
  const carried = {};
  for (let step = 0; step < Math.max(steps, 1); ++step) {
    const feeds = {};
    for (const [name, file] of Object.entries(files))
      feeds[name] = carried[name] || readNpy(file.replace('{step}', String(step)), types[name]);
    const out = await session.run(feeds);
    for (const [name, t] of Object.entries(out))
      writeNpy(path.join(outDir, sanitize(name) + (steps ? '.' + step : '') + '.npy'), t);
    for (const [o, inp] of Object.entries(carry)) carried[inp] = out[o];
  }
}
main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
