// Classifies one picture with @tensorflow-models/mobilenet 2.1.1 loading our TF.js model, as
// a web application using that package would, and prints JSON: its top-k predictions and the
// package's own class names (1000, without "background").
//
//   node mobilenet_classify.mjs --model_dir=DIR --pixels=FILE --height=H --width=W [--top_k=3]
//       [--input_range=0,1]
//
// FILE holds the picture's uint8 RGB pixels, row-major. The package hard-codes 224-pixel
// inputs, and with a modelUrl its inputRange defaults to [-1, 1]; our model takes [0, 1] and
// scales inside, so inputRange: [0, 1] is required (--input_range=omit shows what happens
// without it). In a browser, modelUrl is the URL of
// model.json; here it is an IOHandler reading the directory (pure tfjs cannot read file://).
import fs from 'node:fs';

import * as tf from '@tensorflow/tfjs';
import * as mobilenet from '@tensorflow-models/mobilenet';
import {IMAGENET_CLASSES} from '@tensorflow-models/mobilenet/dist/imagenet_classes.js';

import {directoryHandler} from './directory_handler.mjs';

function parseFlags(argv) {
  const flags = {top_k: '3', input_range: '0,1'};
  for (const arg of argv) {
    const match = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    flags[match[1]] = match[2];
  }
  for (const name of ['model_dir', 'pixels', 'height', 'width']) {
    if (!(name in flags)) throw new Error(`--${name} is required`);
  }
  return flags;
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  await tf.setBackend('cpu');
  const config = {
    version: 2,
    alpha: 1.0,  // only checked against the package's own table when modelUrl is absent
    modelUrl: directoryHandler(flags.model_dir),
    inputRange: [0, 1],
  };
  if (flags.input_range === 'omit') {
    delete config.inputRange;
  } else {
    config.inputRange = flags.input_range.split(',').map(Number);
  }
  const model = await mobilenet.load(config);
  const pixels = new Uint8Array(fs.readFileSync(flags.pixels));
  const image = tf.tensor3d(pixels, [Number(flags.height), Number(flags.width), 3], 'int32');
  const predictions = await model.classify(image, Number(flags.top_k));
  process.stdout.write(JSON.stringify({predictions, classes: IMAGENET_CLASSES}) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
