// Times a one-input model under ONNX Runtime (npm onnxruntime-node) on a new image every run: uniform
// [0, 1) noise of the input's declared shape, drawn before each run's clock starts (bench/detector_vs_ort.sh).
// usage: node time_detector.js MODEL THREADS WARMUP RUNS [SEED]  -> one JSON object on stdout
const ort = require('onnxruntime-node');

async function main() {
  const [model, threads, warmup, runs, seedArg] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const name = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  const shape = meta && meta.shape ? meta.shape.map(Number) : null;
  if (!shape || shape.some((d) => !(d >= 0))) throw new Error(`${model}: input '${name}' needs a fixed shape`);
  let seed = Number(seedArg || 1) >>> 0;
  const rand = () => {  // mulberry32
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const size = shape.reduce((a, b) => a * b, 1);
  const image = () => {
    const v = new Float32Array(size);
    for (let i = 0; i < size; ++i) v[i] = rand();
    return {[name]: new ort.Tensor('float32', v, shape)};
  };
  for (let i = 0; i < Number(warmup); ++i) await session.run(image());
  const times = [];
  for (let i = 0; i < Number(runs); ++i) {
    const feeds = image();
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((x, y) => x - y);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({ort: ort.env.versions.common, threads: Number(threads), runs: times.length,
                              min_ms: times[0], median_ms: q(0.5), p90_ms: q(0.9)}));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
