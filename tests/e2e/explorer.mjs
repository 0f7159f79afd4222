// Drive the neuron explorer in headless Chromium as a person would, and report what it showed.
//
//   node explorer.mjs URL OUT.png [--image I] [--neuron J] [--hover H] [--circuit NAME]
//                    [--mask-file FILE]
//
// Opens the page, picks test image I, hovers neuron H (its atlas entry must appear), clicks
// neuron J's cell, reads the probability bars before and after, saves a screenshot to OUT.png,
// then tries the other controls (drag over a row of cells, top K, random lesion, reset, the
// ablation overlay, the learned mask NAME, loading FILE as a mask, drawing a digit). Prints one
// JSON object on stdout; tests/explorer.rs checks it against the library. A second screenshot,
// OUT-overlay.png, shows the top K switched off with the ablation overlay. Chromium comes from
// $CHROMIUM, else /usr/bin/chromium (Debian's package).
import puppeteer from 'puppeteer-core';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const [url, screenshot] = args;
if (!url || !screenshot) {
  console.error('usage: node explorer.mjs URL OUT.png [--image I] [--neuron J] [--hover H] ' +
    '[--circuit NAME] [--mask-file FILE]');
  process.exit(2);
}
const image = Number(option('--image', '0'));
const neuron = Number(option('--neuron', '0'));
const hover = Number(option('--hover', '1'));
const circuit = option('--circuit', null);
const maskFile = option('--mask-file', null);

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Root in a container has no user namespaces for Chromium's sandbox.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const report = {image, neuron, errors: []};
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1330, height: 610, deviceScaleFactor: 1});
  page.on('pageerror', (e) => report.errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') report.errors.push(`console: ${m.text()}`); });
  page.on('requestfailed', (r) => report.errors.push(`request failed: ${r.url()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) report.errors.push(`request outside the server: ${r.url()}`);
  });

  await page.goto(url, {waitUntil: 'networkidle0'});
  await page.waitForSelector('body[data-ready="1"]', {timeout: 20000});
  report.cells = await page.$$eval('#grid .cell', (cells) => cells.length);

  const seq = () => page.$eval('#bars', (b) => Number(b.dataset.seq));
  // Do something, then wait until the bars have been drawn again and nothing is pending.
  const andWait = async (action) => {
    const before = await seq();
    await action();
    await page.waitForFunction(
      (s) => Number(document.querySelector('#bars').dataset.seq) > s &&
        document.querySelector('#bars').dataset.pending === '0',
      {timeout: 10000}, before);
  };
  const bars = () => page.$$eval('#bars .bar-row', (rows) => rows.map((r) => Number(r.dataset.p)));
  const offCount = () => page.$$eval('#grid .cell.off', (cells) => cells.length);
  const status = () => page.$eval('#status', (s) => s.textContent);

  // Pick the image with the picker.
  await page.$eval('#image-index', (el, v) => { el.value = String(v); }, image);
  await andWait(() => page.click('#show-image'));
  report.label = await page.$eval('#label', (l) => l.textContent);
  report.before = await bars();
  report.activation = Number(await page.$eval(`.cell[data-neuron="${neuron}"]`, (c) => c.dataset.act));

  // Hover a neuron: its atlas entry appears beside the grid.
  await page.hover(`.cell[data-neuron="${hover}"]`);
  await page.waitForSelector(`#atlas-panel[data-neuron="${hover}"]:not([hidden])`, {timeout: 20000});
  report.atlas = await page.$eval('#atlas-panel', (panel) => ({
    neuron: Number(panel.dataset.neuron),
    title: panel.querySelector('#atlas-title').textContent,
    field_shown: !panel.querySelector('#field').hidden,
    top: [...panel.querySelectorAll('.top-image')].map((t) => Number(t.dataset.index)),
    profile_bars: panel.querySelectorAll('.profile-bar').length,
    facts: panel.querySelector('#atlas-facts').textContent,
  }));
  report.atlas_screenshot = screenshot.replace(/\.png$/, '') + '-atlas.png';
  await page.screenshot({path: report.atlas_screenshot, fullPage: true});

  // Click the neuron: it goes off, the bars change.
  await andWait(() => page.click(`.cell[data-neuron="${neuron}"]`));
  report.after = await bars();
  report.clicked_is_off = await page.$eval(`.cell[data-neuron="${neuron}"]`, (c) => c.classList.contains('off'));
  report.verdict = await page.$eval('#verdict', (v) => v.textContent);
  report.intact_ticks = await page.$$eval('#bars .tick', (t) => t.filter((x) => !x.hidden).length);
  await page.screenshot({path: screenshot});

  // Click it again: back on, the bars return.
  await andWait(() => page.click(`.cell[data-neuron="${neuron}"]`));
  report.after_second_click = await bars();

  // Drag along the first row of the grid: every cell passed over goes off.
  const box = async (j) => (await page.$(`.cell[data-neuron="${j}"]`)).boundingBox();
  const cols = await page.$eval('#grid', (g) => g.style.gridTemplateColumns.match(/repeat\((\d+)/)[1]);
  const [first, last] = [await box(0), await box(Number(cols) - 1)];
  await andWait(async () => {
    await page.mouse.move(first.x + first.width / 2, first.y + first.height / 2);
    await page.mouse.down();
    await page.mouse.move(last.x + last.width / 2, last.y + last.height / 2, {steps: 40});
    await page.mouse.up();
  });
  report.columns = Number(cols);
  report.dragged_off = await offCount();

  // The buttons.
  await andWait(() => page.click('#reset'));
  report.reset_off = await offCount();
  report.top_k_enabled = await page.$eval('#top-k', (b) => !b.disabled);
  if (report.top_k_enabled) {
    await page.$eval('#k', (el) => { el.value = '25'; });
    await andWait(() => page.click('#top-k'));
    report.top_k_off = await offCount();
    report.top_k_neurons = await page.$$eval('#grid .cell.off', (c) => c.map((x) => Number(x.dataset.neuron)));
    report.top_k_probs = await bars();
    await page.click('#overlay');
    report.overlay_cells = await page.$$eval('#grid .cell.overlay', (c) => c.length);
    report.overlay_screenshot = screenshot.replace(/\.png$/, '') + '-overlay.png';
    await page.mouse.move(0, 0);
    await page.screenshot({path: report.overlay_screenshot});
    await page.click('#overlay');
  }
  await page.$eval('#p', (el) => { el.value = '0.5'; });
  await andWait(() => page.click('#lesion'));
  report.lesion_off = await offCount();
  await andWait(() => page.click('#reset'));

  // A learned mask from the list, then a mask file from disk.
  report.circuits = await page.$$eval('#circuit option', (o) => o.map((x) => x.textContent));
  if (circuit) {
    const value = await page.$$eval('#circuit option', (o, name) =>
      (o.find((x) => x.textContent.startsWith(`${name} `)) || {}).value, circuit);
    await andWait(() => page.select('#circuit', value));
    report.circuit_off = await offCount();
    report.circuit_on = await page.$$eval('#grid .cell:not(.off)', (c) => c.map((x) => Number(x.dataset.neuron)));
    report.circuit_note = await page.$eval('#mask-note', (n) => n.textContent);
    report.circuit_probs = await bars();
    report.circuit_screenshot = screenshot.replace(/\.png$/, '') + '-circuit.png';
    await page.screenshot({path: report.circuit_screenshot, fullPage: true});
    await andWait(() => page.click('#reset'));
  }
  if (maskFile) {
    const input = await page.$('#mask-file');
    await andWait(() => input.uploadFile(maskFile));
    report.file_on = await page.$$eval('#grid .cell:not(.off)', (c) => c.map((x) => Number(x.dataset.neuron)));
    report.file_note = await page.$eval('#mask-note', (n) => n.textContent);
    await andWait(() => page.click('#reset'));
  }

  // Draw a digit: a vertical stroke, which MNIST-trained nets call a 1.
  const canvas = await (await page.$('#draw')).boundingBox();
  await andWait(async () => {
    await page.click('#clear');
    await page.mouse.move(canvas.x + 140, canvas.y + 40);
    await page.mouse.down();
    await page.mouse.move(canvas.x + 136, canvas.y + 240, {steps: 20});
    await page.mouse.up();
  });
  report.drawn_label = await page.$eval('#label', (l) => l.textContent);
  report.drawn = await bars();
  report.drawn_ink = await page.$eval('#preview', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) ink += d[i] > 0 ? 1 : 0;
    return ink;
  });
  report.status = await status();
} catch (e) {
  report.errors.push(`script: ${e.stack || e}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(report.errors.length ? 1 : 0);
