// Times an ONNX model under ONNX Runtime (npm onnxruntime-node), as the reference for graft's numbers.
// usage: node minilm_ort.js MODEL BATCH SEQ THREADS WARMUP RUNS  -> one JSON object on stdout
const ort = require('onnxruntime-node');

async function main() {
  const [model, b, s, threads, warmup, runs] = process.argv.slice(2);
  const B = Number(b), S = Number(s);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const n = B * S;
  const ids = new BigInt64Array(n), mask = new BigInt64Array(n), types = new BigInt64Array(n);
  let seed = 1;
  for (let i = 0; i < n; ++i) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    ids[i] = BigInt(seed % 1000);
    mask[i] = 1n;
  }
  const feeds = {};
  for (const name of session.inputNames) {
    const data = name === 'input_ids' ? ids : name === 'attention_mask' ? mask : types;
    feeds[name] = new ort.Tensor('int64', data, [B, S]);
  }
  for (let i = 0; i < Number(warmup); ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < Number(runs); ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((x, y) => x - y);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(JSON.stringify({ort: ort.env.versions.common, batch: B, sequence: S, threads: Number(threads),
                              min_ms: times[0], median_ms: q(0.5), p90_ms: q(0.9)}));
}
main().catch((e) => { console.error(e); process.exit(1); });
