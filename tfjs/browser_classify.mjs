// Opens the demo page in Debian's headless Chromium, gives it one picture through its file
// input, waits for the result and prints it as JSON (top-5 labels, milliseconds, backend).
//
//   node browser_classify.mjs --url=http://127.0.0.1:PORT/ --picture=FILE \
//       [--screenshot=PNG] [--chromium=/usr/bin/chromium] [--runs=1]
//
// With --runs=R the picture is given R times; `runs_ms` lists the model's time of each (the
// first includes the backend's warm-up).
// playwright-core drives the installed browser over CDP; it downloads none of its own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {chromium} from 'playwright-core';

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function parseFlags(argv) {
  const flags = {chromium: '/usr/bin/chromium', timeout_ms: '120000', runs: '1'};
  for (const arg of argv) {
    const match = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    flags[match[1]] = match[2];
  }
  for (const name of ['url', 'picture']) {
    if (!(name in flags)) throw new Error(`--${name} is required`);
  }
  return flags;
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const timeout = Number(flags.timeout_ms);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: flags.chromium,
    headless: true,
    args: FLAGS,
    viewport: {width: 900, height: 760},
  });
  try {
    const page = await browser.newPage();
    const messages = [];
    page.on('console', (message) => messages.push(message.text()));
    await page.goto(flags.url);
    await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', {timeout});
    const runs = [];
    for (let run = 0; run < Number(flags.runs); run++) {
      await page.evaluate(() => { document.body.dataset.state = 'ready'; });
      await page.setInputFiles('#file', []);
      await page.setInputFiles('#file', flags.picture);
      await page.waitForSelector('body[data-state="done"], body[data-state="error"]', {timeout});
      const state = await page.getAttribute('body', 'data-state');
      if (state !== 'done') {
        throw new Error(`the page failed: ${await page.textContent('#status')}`);
      }
      runs.push(await page.evaluate(() => window.lastResult.milliseconds));
    }
    const result = await page.evaluate(() => window.lastResult);
    result.runs_ms = runs;
    result.shown = await page.$$eval('#results td.label', (cells) => cells.map((c) => c.textContent));
    result.status = await page.textContent('#status');
    result.chromium = browser.browser().version();
    if (flags.screenshot) await page.screenshot({path: flags.screenshot, fullPage: true});
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await browser.close();
    fs.rmSync(profile, {recursive: true, force: true});
  }
}

main().catch((error) => {
  process.stderr.write(`${error.message.split('\n')[0]}\n`);
  process.exit(1);
});
