// Runs an ONNX model once under ONNX Runtime and prints its outputs as JSON; tests use it as the
// reference implementation.
// usage: node run_model.js MODEL '{"x": {"dims": [1, 3], "data": [1, 2, 3]}}'
//        node run_model.js MODEL @inputs.json
// Each input may name its element type ("type": "float32" (default), "float64", "int64", "int32", "int8",
// "uint8", "bool", ...). Prints {"y": {"dims": [...], "data": [...], "type": "float32"}}; int64 values
// are printed as numbers, non-finite floats as the strings "NaN", "Infinity" and "-Infinity".
const fs = require('fs');
const ort = require('onnxruntime-node');

const arrays = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, bool: Uint8Array,
};

function decode(x) {
  if (x === 'NaN') return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  return x;
}

function tensor(v) {
  const type = v.type || 'float32';
  const data = v.data.map(decode);
  if (type === 'int64') return new ort.Tensor(type, BigInt64Array.from(data.map((x) => BigInt(x))), v.dims);
  if (type === 'uint64') return new ort.Tensor(type, BigUint64Array.from(data.map((x) => BigInt(x))), v.dims);
  if (!arrays[type]) throw new Error('run_model.js: unsupported input type ' + type);
  return new ort.Tensor(type, arrays[type].from(data.map(Number)), v.dims);
}

function encode(x) {
  if (typeof x === 'bigint') return Number(x);
  if (typeof x === 'boolean') return x ? 1 : 0;
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return x;
}

async function main() {
  const [model, inputsArg] = process.argv.slice(2);
  const json = inputsArg.startsWith('@') ? fs.readFileSync(inputsArg.slice(1), 'utf8') : inputsArg;
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: 'all'});
  const feeds = {};
  for (const [name, v] of Object.entries(JSON.parse(json))) feeds[name] = tensor(v);
  const out = await session.run(feeds);
  const result = {};
  for (const [name, t] of Object.entries(out))
    result[name] = {dims: t.dims, data: Array.from(t.data, encode), type: t.type};
  console.log(JSON.stringify(result));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
