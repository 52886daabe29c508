// Classifies a picture the person picks or drops with the TF.js model the server serves under
// model/, and shows the top-5 labels with their probabilities and the time the model took.
// The picture is resized to the model's input with tf.image.resizeBilinear (no antialiasing:
// pictures much larger than the model may rank classes a little differently from
// export.classify, which antialiases), scaled to [0, 1], and run at batch 1.
// ?backend=cpu|wasm|webgl chooses tfjs' backend (default wasm).
'use strict';

const TOP_K = 5;
const page = {
  model: document.getElementById('model'),
  drop: document.getElementById('drop'),
  file: document.getElementById('file'),
  picture: document.getElementById('picture'),
  status: document.getElementById('status'),
  results: document.getElementById('results'),
};
const state = {model: null, labels: null, size: null};

async function start() {
  const backend = new URLSearchParams(location.search).get('backend') || 'wasm';
  tf.wasm.setWasmPaths('tfjs/');
  await tf.setBackend(backend);
  await tf.ready();
  const [model, labels] = await Promise.all([
    tf.loadGraphModel('model/model.json'),
    fetch('labels.txt').then((response) => response.text()),
  ]);
  state.model = model;
  state.labels = labels.trimEnd().split('\n');
  state.size = model.inputs[0].shape[1];
  page.model.textContent = `Model: ${state.size}×${state.size} pixels in; ` +
      `tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}.`;
  document.body.dataset.state = 'ready';
}

function show(file) {
  if (!file || !file.type.startsWith('image/')) {
    page.status.textContent = `${file ? file.name : 'That'} is not a picture.`;
    return;
  }
  document.body.dataset.state = 'running';
  page.picture.onload = () => classify().catch(fail);
  page.picture.onerror = () => fail(new Error(`${file.name}: cannot be decoded`));
  page.picture.src = URL.createObjectURL(file);
  page.picture.hidden = false;
}

async function classify() {
  const size = state.size;
  const input = tf.tidy(() => {
    const pixels = tf.browser.fromPixels(page.picture);
    const resized = pixels.shape[0] === size && pixels.shape[1] === size ?
        pixels.toFloat() : tf.image.resizeBilinear(pixels, [size, size], false, true);
    return resized.div(255).clipByValue(0, 1).expandDims(0);
  });
  const start = performance.now();
  const logits = state.model.predict(input);
  const values = await logits.data();
  const milliseconds = performance.now() - start;
  tf.dispose([input, logits]);
  const probabilities = tf.tidy(() => tf.softmax(tf.tensor1d(values)).arraySync());
  const top = Array.from(probabilities.keys())
      .sort((a, b) => probabilities[b] - probabilities[a] || a - b).slice(0, TOP_K)
      .map((index) => ({index, label: state.labels[index], probability: probabilities[index]}));
  page.results.replaceChildren(...top.map((entry) => {
    const row = document.createElement('tr');
    row.innerHTML = '<td class="label"></td><td class="score"></td><td><div class="bar"></div></td>';
    row.querySelector('.label').textContent = entry.label;
    row.querySelector('.score').textContent = `${(100 * entry.probability).toFixed(2)} %`;
    row.querySelector('.bar').style.width = `${Math.max(1, 100 * entry.probability)}%`;
    return row;
  }));
  page.status.textContent = `The model took ${milliseconds.toFixed(1)} ms ` +
      `(${page.picture.naturalWidth}×${page.picture.naturalHeight} picture).`;
  window.lastResult = {top, milliseconds, backend: tf.getBackend()};
  document.body.dataset.state = 'done';
}

function fail(error) {
  page.status.textContent = `Error: ${error.message}`;
  document.body.dataset.state = 'error';
}

page.file.addEventListener('change', () => show(page.file.files[0]));
page.drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  page.drop.classList.add('over');
});
page.drop.addEventListener('dragleave', () => page.drop.classList.remove('over'));
page.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  page.drop.classList.remove('over');
  show(event.dataTransfer.files[0]);
});
start().catch(fail);
