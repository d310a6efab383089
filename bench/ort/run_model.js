// Runs an ONNX model once under ONNX Runtime and prints its outputs as JSON; tests use it as the
// reference implementation. usage: node run_model.js MODEL '{"x": {"dims": [1, 3], "data": [1, 2, 3]}}'
// (float32 inputs) -> {"y": {"dims": [...], "data": [...]}}
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputsJson] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: 'all'});
  const feeds = {};
  for (const [name, v] of Object.entries(JSON.parse(inputsJson)))
    feeds[name] = new ort.Tensor('float32', Float32Array.from(v.data), v.dims);
  const out = await session.run(feeds);
  const result = {};
  for (const [name, t] of Object.entries(out)) result[name] = {dims: t.dims, data: Array.from(t.data)};
  console.log(JSON.stringify(result));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
