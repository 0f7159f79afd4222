// neuromask neuron explorer: plain JavaScript, no framework, no network beyond this server.
'use strict';

const $ = (id) => document.getElementById(id);

const state = {
  info: null,
  pixels: null,        // the 784 input bytes (0..255) the model sees, or null before any input
  label: null,         // the test image's label, when the input is one
  off: new Set(),      // switched-off neurons of the shown layer
  ablation: null,      // {delta_accuracy: [...], rank: [...]} from /api/ablation
  hidden: [],          // the shown layer's activations for the current input and mask
  probs: null,         // probabilities with the current mask
  intact: null,        // probabilities with the model's default mask (the intact network)
  inputChanged: false, // the intact probabilities need asking again
  circuits: [],        // the learned masks from /api/circuits
};

// ---- talking to the server ----------------------------------------------------------------

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  const json = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(json.error || `HTTP ${response.status}`);
  return json;
}

function status(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

// The name of neuron j of the shown layer as the API takes it: 5, or "1:5" in deeper nets.
function neuronName(j) {
  return state.info.deep ? `${state.info.layer}:${j}` : j;
}

function offList() {
  return state.info.default_off_elsewhere.concat([...state.off].sort((a, b) => a - b).map(neuronName));
}

// Ask for new answers; while one round is out, further changes wait and go in the next.
let busy = false;
let dirty = false;
async function update() {
  if (!state.pixels) return;
  if (busy) { dirty = true; return; }
  busy = true;
  $('bars').dataset.pending = '1';
  try {
    do {
      dirty = false;
      const pixels = state.pixels;
      const asks = [api('/api/predict', {pixels, off: offList()})];
      if (state.inputChanged) {
        state.inputChanged = false;
        asks.push(api('/api/predict', {pixels}));
      }
      const [now, intact] = await Promise.all(asks);
      state.hidden = now.hidden;
      state.probs = now.probabilities;
      if (intact) state.intact = intact.probabilities;
      renderGrid();
      renderBars();
      status('');
    } while (dirty);
  } catch (e) {
    status(e.message, true);
  } finally {
    busy = false;
    $('bars').dataset.pending = '0';
  }
}

// ---- the hidden-layer grid ----------------------------------------------------------------

const cells = [];

function buildGrid() {
  const {neurons, grid, layer, hidden} = state.info;
  const gridEl = $('grid');
  gridEl.style.gridTemplateColumns = `repeat(${grid.cols}, var(--cell))`;
  for (let j = 0; j < neurons; j++) {
    const cell = document.createElement('div');
    cell.className = 'cell';
    cell.dataset.neuron = j;
    gridEl.appendChild(cell);
    cells.push(cell);
  }
  const which = hidden.length > 1 ? `Hidden layer ${layer} (the last of ${hidden.length})` : 'Hidden layer';
  $('grid-title').textContent = `${which}: ${neurons} neurons (${grid.rows} × ${grid.cols})`;

  // Click a cell to flip it; drag to paint: the first cell decides whether the drag switches
  // neurons off or on.
  let paint = null;
  const cellAt = (e) => {
    const el = document.elementFromPoint(e.clientX, e.clientY);
    return el && el.classList.contains('cell') ? Number(el.dataset.neuron) : null;
  };
  const apply = (j) => {
    if (j === null || state.off.has(j) === paint) return;
    if (paint) state.off.add(j); else state.off.delete(j);
    renderGrid();
    update();
  };
  gridEl.addEventListener('pointerdown', (e) => {
    const j = cellAt(e);
    if (j === null) return;
    e.preventDefault();
    paint = !state.off.has(j);
    apply(j);
  });
  gridEl.addEventListener('pointermove', (e) => { if (paint !== null) apply(cellAt(e)); });
  const stop = () => { paint = null; };
  window.addEventListener('pointerup', stop);
  window.addEventListener('pointercancel', stop);
}

function renderGrid() {
  const act = state.hidden;
  const max = act.length ? Math.max(...act) : 0;
  const abl = $('overlay').checked ? state.ablation : null;
  const drops = abl ? abl.delta_accuracy.map((d) => Math.max(0, -(d ?? 0))) : null;
  const maxDrop = drops ? Math.max(...drops) : 0;
  cells.forEach((cell, j) => {
    const a = act[j] ?? 0;
    const off = state.off.has(j);
    cell.classList.toggle('off', off);
    cell.style.setProperty('--a', max > 0 ? (a / max).toFixed(3) : 0);
    cell.dataset.act = a.toFixed(4);
    cell.classList.toggle('overlay', !!drops);
    if (drops) cell.style.setProperty('--i', maxDrop > 0 ? (drops[j] / maxDrop).toFixed(3) : 0);
    let title = `neuron ${neuronName(j)}${off ? ' (off)' : ''}: activation ${a.toFixed(3)}`;
    if (state.ablation && state.ablation.rank[j] != null) {
      const d = state.ablation.delta_accuracy[j] * 100;
      title += `; switched off alone, test accuracy ${d >= 0 ? '+' : ''}${d.toFixed(2)}% ` +
        `(rank ${state.ablation.rank[j]})`;
    }
    cell.title = title;
  });
  const n = state.off.size;
  $('off-count').textContent = `${n} of ${state.info.neurons} neurons switched off` +
    (n ? ' — click or drag over cells to switch them back on' : ' — click or drag over cells');
}

// ---- the probability bars -----------------------------------------------------------------

const bars = [];

function buildBars() {
  for (let c = 0; c < state.info.classes; c++) {
    const row = document.createElement('div');
    row.className = 'bar-row';
    row.dataset.digit = c;
    row.innerHTML = '<span class="digit"></span><span class="track"><span class="fill"></span>' +
      '<span class="tick"></span></span><span class="value"></span>';
    row.querySelector('.digit').textContent = c;
    $('bars').appendChild(row);
    bars.push(row);
  }
}

function argmax(xs) {
  return xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);
}

function renderBars() {
  const p = state.probs;
  const top = argmax(p);
  bars.forEach((row, c) => {
    row.dataset.p = p[c].toFixed(6);
    row.classList.toggle('top', c === top);
    row.querySelector('.fill').style.width = `${(p[c] * 100).toFixed(2)}%`;
    row.querySelector('.value').textContent = p[c].toFixed(3);
    const tick = row.querySelector('.tick');
    tick.hidden = !state.intact;
    if (state.intact) tick.style.left = `calc(${(state.intact[c] * 100).toFixed(2)}% - 1px)`;
  });
  let verdict = `predicted <b>${top}</b> (p = ${p[top].toFixed(3)})`;
  if (state.intact) {
    const was = argmax(state.intact);
    verdict += was === top ? ', as the intact network'
      : `; the intact network says <b>${was}</b> (p = ${state.intact[was].toFixed(3)})`;
  }
  if (state.label !== null) verdict += ` · label ${state.label}`;
  $('verdict').innerHTML = verdict;
  $('bars').dataset.seq = Number($('bars').dataset.seq) + 1;
}

// ---- input: drawing and test images -------------------------------------------------------

const draw = $('draw');
const pen = draw.getContext('2d', {willReadFrequently: true});

function clearCanvas() {
  pen.fillStyle = '#000';
  pen.fillRect(0, 0, draw.width, draw.height);
}

function setInput(pixels, label) {
  state.pixels = pixels;
  state.label = label;
  state.inputChanged = true;
  const preview = $('preview').getContext('2d');
  const img = preview.createImageData(28, 28);
  pixels.forEach((v, i) => {
    img.data.set([v, v, v, 255], i * 4);
  });
  preview.putImageData(img, 0, 0);
  $('label').textContent = label === null ? 'your drawing' : `test image, label ${label}`;
  update();
}

// MNIST's preprocessing: the digit's bounding box scaled to fit 20x20 (aspect kept, grey
// levels by area averaging), then placed in the 28x28 field with its centre of mass in the
// middle.
function mnistPixels() {
  const W = draw.width;
  const H = draw.height;
  const src = pen.getImageData(0, 0, W, H).data;
  let [x0, y0, x1, y1] = [W, H, -1, -1];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (src[(y * W + x) * 4] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  const out = new Array(784).fill(0);
  if (x1 < 0) return out;
  const scale = 20 / Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const w = Math.max(1, Math.ceil((x1 - x0 + 1) * scale));
  const h = Math.max(1, Math.ceil((y1 - y0 + 1) * scale));
  const sum = new Float64Array(w * h);
  const count = new Float64Array(w * h);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const k = Math.min(h - 1, Math.floor((y - y0) * scale)) * w +
        Math.min(w - 1, Math.floor((x - x0) * scale));
      sum[k] += src[(y * W + x) * 4];
      count[k] += 1;
    }
  }
  let [mass, mx, my] = [0, 0, 0];
  const box = Array.from(sum, (s, k) => (count[k] ? s / count[k] : 0));
  box.forEach((v, k) => { mass += v; mx += v * (k % w + 0.5); my += v * (Math.floor(k / w) + 0.5); });
  const dx = Math.round(14 - mx / mass);
  const dy = Math.round(14 - my / mass);
  box.forEach((v, k) => {
    const x = (k % w) + dx;
    const y = Math.floor(k / w) + dy;
    if (x >= 0 && x < 28 && y >= 0 && y < 28) out[y * 28 + x] = Math.round(v);
  });
  return out;
}

function setupDrawing() {
  clearCanvas();
  let last = null;
  const at = (e) => {
    const r = draw.getBoundingClientRect();
    return [(e.clientX - r.left) * draw.width / r.width, (e.clientY - r.top) * draw.height / r.height];
  };
  const stroke = (to) => {
    pen.strokeStyle = '#fff';
    pen.lineWidth = 20;
    pen.lineCap = 'round';
    pen.lineJoin = 'round';
    pen.beginPath();
    pen.moveTo(...(last || to));
    pen.lineTo(...to);
    pen.stroke();
    last = to;
  };
  draw.addEventListener('pointerdown', (e) => {
    draw.setPointerCapture(e.pointerId);
    last = null;
    stroke(at(e));
  });
  draw.addEventListener('pointermove', (e) => {
    if (last) { stroke(at(e)); setInput(mnistPixels(), null); }
  });
  draw.addEventListener('pointerup', () => {
    if (last) setInput(mnistPixels(), null);
    last = null;
  });
  $('clear').addEventListener('click', () => {
    clearCanvas();
    setInput(new Array(784).fill(0), null);
  });
}

// Show a test image on the drawing canvas too (smoothly enlarged), so strokes can be added.
function paintOnCanvas(pixels) {
  const small = document.createElement('canvas');
  small.width = 28;
  small.height = 28;
  const ctx = small.getContext('2d');
  const img = ctx.createImageData(28, 28);
  pixels.forEach((v, i) => img.data.set([v, v, v, 255], i * 4));
  ctx.putImageData(img, 0, 0);
  clearCanvas();
  pen.imageSmoothingEnabled = true;
  pen.drawImage(small, 0, 0, draw.width, draw.height);
}

async function showTestImage(index) {
  try {
    const image = await api(`/api/test-image/${index}`);
    $('image-index').value = image.index;
    paintOnCanvas(image.pixels);
    setInput(image.pixels, image.label);
  } catch (e) {
    status(e.message, true);
  }
}

function setupPicker() {
  const n = state.info.test_images;
  if (!n) {
    $('picker').innerHTML = '<span class="hint">no test images: start infer serve with ' +
      '--data-dir DIR or $MNIST_DIR</span>';
    return;
  }
  $('image-index').max = n - 1;
  $('show-image').addEventListener('click', () => showTestImage($('image-index').value));
  $('image-index').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') showTestImage($('image-index').value);
  });
  $('random-image').addEventListener('click', () => showTestImage(Math.floor(Math.random() * n)));
}

// ---- masks: reset, top K, random lesion, overlay ------------------------------------------

function setupControls() {
  const {neurons} = state.info;
  // Every control that sets the whole mask starts from the default and forgets a loaded one.
  const reset = () => {
    $('circuit').value = '';
    $('mask-file').value = '';
    $('mask-note').textContent = '';
    return new Set(state.info.default_off_in_layer);
  };
  state.off = reset();
  $('reset').addEventListener('click', () => { state.off = reset(); renderGrid(); update(); });
  $('top-k').addEventListener('click', () => {
    const k = Math.max(1, Math.min(neurons, Number($('k').value) || 1));
    const ranked = [...Array(neurons).keys()]
      .filter((j) => state.ablation.rank[j] != null)
      .sort((a, b) => state.ablation.rank[a] - state.ablation.rank[b]);
    state.off = reset();
    ranked.slice(0, k).forEach((j) => state.off.add(j));
    renderGrid();
    update();
  });
  $('lesion').addEventListener('click', () => {
    const p = Math.max(0, Math.min(1, Number($('p').value) || 0));
    state.off = reset();
    for (let j = 0; j < neurons; j++) if (Math.random() < p) state.off.add(j);
    renderGrid();
    update();
  });
  $('overlay').addEventListener('change', () => {
    $('overlay-legend').hidden = !$('overlay').checked;
    renderGrid();
  });
}

async function loadAblation() {
  const needs = `needs an ablation map: infer ablate --output ${state.info.ablation_file}`;
  if (state.info.ablation) {
    try {
      state.ablation = await api('/api/ablation');
    } catch (e) {
      status(e.message, true);
    }
  }
  const ok = !!state.ablation;
  $('top-k').disabled = !ok;
  $('overlay').disabled = !ok;
  if (ok) {
    $('top-k').title = 'switch off the K neurons whose loss costs the most test accuracy';
  } else {
    $('top-k').title = needs;
    $('overlay').parentElement.title = needs;
  }
}

// ---- the atlas: what the hovered neuron responds to ---------------------------------------

const atlasCache = new Map();
let atlasWanted = null;

async function showNeuron(j) {
  if (!state.info.test_images || atlasWanted === j) return;
  atlasWanted = j;
  try {
    let entry = atlasCache.get(j);
    if (!entry) {
      entry = await api(`/api/neuron/${j}`);
      atlasCache.set(j, entry);
    }
    if (atlasWanted === j) renderAtlas(entry);
  } catch (e) {
    status(e.message, true);
  }
}

// Blue for negative, white for 0, red for positive; t in -1..1 (as the atlas PNG).
function diverging(t) {
  const c = Math.max(-1, Math.min(1, t));
  const fade = Math.round(255 * (1 - Math.abs(c)));
  return c >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

function paintSmall(canvas, values, colour) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(canvas.width, canvas.height);
  values.forEach((v, i) => img.data.set([...colour(v), 255], i * 4));
  ctx.putImageData(img, 0, 0);
}

function renderAtlas(e) {
  const panel = $('atlas-panel');
  panel.hidden = false;
  $('atlas-hint').hidden = true;
  panel.dataset.neuron = e.neuron;
  $('atlas-title').textContent = `Neuron ${neuronName(e.neuron)}`;
  const field = $('field');
  field.hidden = !e.receptive_field;
  if (e.receptive_field) paintSmall(field, e.receptive_field, (w) => diverging(w / e.scale));
  $('atlas-facts').textContent = (e.receptive_field ? 'incoming weights (red +, blue −). ' : '') +
    `Zero on ${(e.zero_fraction * 100).toFixed(1)}% of the test images; mean activation ${e.mean.toFixed(3)}.`;
  const top = $('atlas-top');
  top.replaceChildren(...e.top.map((t) => {
    const box = document.createElement('div');
    box.className = 'top-image';
    box.dataset.index = t.index;
    const c = document.createElement('canvas');
    c.width = 28;
    c.height = 28;
    paintSmall(c, t.pixels, (v) => [v, v, v]);
    const caption = document.createElement('span');
    caption.textContent = `#${t.index} (${t.label}) ${t.activation.toFixed(2)}`;
    box.append(c, caption);
    return box;
  }));
  const means = e.mean_per_class.map((m) => m ?? 0);
  const max = Math.max(...means, 1e-9);
  $('atlas-profile').replaceChildren(...means.map((m, d) => {
    const bar = document.createElement('div');
    bar.className = 'profile-bar';
    bar.style.height = `${(m / max * 100).toFixed(1)}%`;
    bar.title = `digit ${d}: mean activation ${m.toFixed(3)}`;
    const label = document.createElement('span');
    label.textContent = d;
    bar.appendChild(label);
    return bar;
  }));
}

// ---- masks from files: a learned mask (infer circuit) or one picked from disk ---------------

function applyKept(kept, what) {
  const keep = new Set(kept);
  state.off = new Set([...Array(state.info.neurons).keys()].filter((j) => !keep.has(j)));
  $('mask-note').textContent = `${what}: ${keep.size} of ${state.info.neurons} neurons kept`;
  renderGrid();
  update();
}

async function loadCircuits() {
  const select = $('circuit');
  let list = {masks: []};
  try {
    list = await api('/api/circuits');
  } catch (e) {
    status(e.message, true);
  }
  state.circuits = list.masks;
  list.masks.forEach((m, i) => {
    const option = document.createElement('option');
    option.value = String(i);
    option.textContent = m.error ? `${m.name} (unreadable)` : `${m.name} (${m.kept.length})`;
    option.disabled = !!m.error;
    option.title = m.error || m.file;
    select.appendChild(option);
  });
  select.disabled = !list.masks.length;
  select.title = list.masks.length ? `masks in ${list.dir}`
    : `no learned masks in ${list.dir}: write some with infer circuit`;
  select.addEventListener('change', () => {
    const m = state.circuits[Number(select.value)];
    if (select.value === '' || !m) return;
    applyKept(m.kept, m.name);
  });
}

// The shown layer's kept neurons from a mask file's first row: CSV (0/1, keep) or a JSON line
// {"keep": [...]} / {"off": [...]} with indices or "layer:index" names.
function keptFromFile(name, text) {
  const {neurons, layer, hidden} = state.info;
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length);
  if (!line) throw new Error(`${name}: empty; expected a mask row`);
  if (/\.(csv|txt)$/i.test(name)) {
    const values = line.split(/[,\s]+/).map(Number);
    const width = hidden.reduce((a, b) => a + b, 0);
    if (values.length !== width) throw new Error(`${name}: a row of ${values.length} values; expected ${width}`);
    const start = width - neurons;
    return [...Array(neurons).keys()].filter((j) => values[start + j] === 1);
  }
  const row = JSON.parse(line);
  const inLayer = (list) => list.map(String).map((n) => n.split(':'))
    .filter((p) => p.length === 1 || Number(p[0]) === layer).map((p) => Number(p[p.length - 1]));
  if (Array.isArray(row.keep)) return inLayer(row.keep);
  if (Array.isArray(row.off)) {
    const off = new Set(inLayer(row.off));
    return [...Array(neurons).keys()].filter((j) => !off.has(j));
  }
  throw new Error(`${name}: expected {"keep": [...]} or {"off": [...]} on the first line`);
}

function setupMaskFile() {
  $('mask-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      applyKept(keptFromFile(file.name, await file.text()), file.name);
      $('circuit').value = '';
    } catch (err) {
      status(err.message, true);
    }
  });
}

async function main() {
  try {
    state.info = await api('/api/info');
  } catch (e) {
    status(`cannot reach the server: ${e.message}`, true);
    return;
  }
  const {info} = state;
  const acc = info.test_accuracy == null ? '' : `, test accuracy ${(info.test_accuracy * 100).toFixed(2)}%`;
  $('facts').textContent =
    `${info.input_size} → ${info.hidden.join(' → ')} → ${info.classes} from ${info.artifact_dir}${acc}`;
  buildGrid();
  buildBars();
  setupDrawing();
  setupPicker();
  setupControls();
  setupMaskFile();
  $('grid').addEventListener('pointerover', (e) => {
    if (e.target.classList.contains('cell')) showNeuron(Number(e.target.dataset.neuron));
  });
  await loadAblation();
  await loadCircuits();
  renderGrid();
  if (info.test_images) await showTestImage(0);
  else status('draw a digit on the black square to start');
  document.body.dataset.ready = '1';
}

main();
