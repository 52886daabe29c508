// Runs a TF.js graph model in Node with the pure-JavaScript @tensorflow/tfjs, on the cpu and
// wasm backends, and prints one JSON object: each backend's outputs and its batch-1 latency.
//
//   node run_model.mjs --model_dir=DIR --images=FILE --shape=N,S,S,3 \
//       [--backends=cpu,wasm] [--repeats=0]
//
// FILE holds the float32 images (little-endian, row-major) in [0, 1]. The model is read from
// disk through an IOHandler of our own: pure tfjs cannot load file:// URLs. With --repeats=R
// each backend also runs the first image alone R times after one warm-up, and reports the
// median milliseconds of one run (data download included).
import fs from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

import {directoryHandler} from './directory_handler.mjs';

function parseFlags(argv) {
  const flags = {backends: 'cpu,wasm', repeats: '0'};
  for (const arg of argv) {
    const match = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    flags[match[1]] = match[2];
  }
  for (const name of ['model_dir', 'images', 'shape']) {
    if (!(name in flags)) throw new Error(`--${name} is required`);
  }
  return flags;
}

function readImages(file, shape) {
  const bytes = fs.readFileSync(file);
  const expected = shape.reduce((a, b) => a * b, 1) * 4;
  if (bytes.length !== expected) {
    throw new Error(`${file}: ${bytes.length} bytes, but shape [${shape}] of float32 needs ${
        expected}`);
  }
  const copy = new Uint8Array(bytes);  // aligned for Float32Array
  return new Float32Array(copy.buffer);
}

async function runBackend(backend, model, images, shape, repeats) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not start`);
  await tf.ready();
  const input = tf.tensor(images, shape, 'float32');
  const output = model.predict(input);
  const outputs = Array.from(await output.data());
  const outputShape = output.shape;
  tf.dispose([input, output]);
  const result = {backend, shape: outputShape, outputs};
  if (repeats > 0) {
    const single = tf.tensor(images.subarray(0, shape.slice(1).reduce((a, b) => a * b, 1)),
        [1, ...shape.slice(1)], 'float32');
    const times = [];
    for (let i = 0; i <= repeats; i++) {
      const start = performance.now();
      const y = model.predict(single);
      await y.data();
      times.push(performance.now() - start);
      y.dispose();
    }
    single.dispose();
    times.shift();  // the warm-up
    times.sort((a, b) => a - b);
    result.latency_ms = times[Math.floor(times.length / 2)];
  }
  return result;
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const shape = flags.shape.split(',').map(Number);
  const images = readImages(flags.images, shape);
  const results = [];
  for (const backend of flags.backends.split(',')) {
    // A model's weights live on the backend that was active when it loaded.
    await tf.setBackend(backend);
    const model = await tf.loadGraphModel(directoryHandler(flags.model_dir));
    results.push(await runBackend(backend, model, images, shape, Number(flags.repeats)));
    model.dispose();
  }
  process.stdout.write(JSON.stringify({tfjs_version: tf.version.tfjs, results}) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
