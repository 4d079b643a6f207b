// Drives Converse.js in headless Chromium through one conversation, as a
// person would: log in with the login form, start a chat, send a message,
// wait for the answer, attach an image.  Started by
// tests/e2e/test_browser_conversejs.py, which plays the other side with
// slixmpp and checks what arrived there; this script only checks what the
// browser shows.
//
//   node run.mjs CONFIG.json
//
// CONFIG: {chromium, page, jid, password, peer, send, expect, image, out,
//          timeout_ms, resolve: [host...], ignore_https_errors, bosh}
// (bosh: the BOSH URL, whose requests and answers are logged, if any)
// Prints "step: NAME" as it goes and, at the end, "uploaded: URL".  Exit 0
// on success; otherwise prints "error: ..." and "screenshot: PATH".  Every
// wait is bounded, and so is the whole run (timeout_ms).  The browser's
// console, page errors, failed requests, every WebSocket frame and BOSH
// body are written to OUT/browser.log.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const logPath = path.join(cfg.out, 'browser.log');
const logFile = fs.openSync(logPath, 'w');
const t0 = Date.now();
const WAIT = 30000; // one step; the whole run is bounded by cfg.timeout_ms

function log(line) {
	const t = ((Date.now() - t0) / 1000).toFixed(3);
	fs.writeSync(logFile, `${t} ${line}\n`);
}

function say(line) {
	process.stdout.write(line + '\n');
	log('== ' + line);
}

let browser = null;
let page = null;

let failing = false;

async function fail(err) {
	if (failing)
		return;
	failing = true;
	say('error: ' + String(err && err.message || err).split('\n').slice(0, 6).join(' | '));
	if (page) {
		// Converse's own error notes (a refused upload, say) are in the chat.
		const notes = await page.locator('.chat-error, .alert-danger')
			.allInnerTexts().catch(() => []);
		if (notes.length)
			say('converse showed: ' + notes.map((s) => s.trim()).join(' | '));
		const shot = path.join(cfg.out, 'failure.png');
		try {
			await page.screenshot({ path: shot, fullPage: true, timeout: 10000 });
			say('screenshot: ' + shot);
		} catch (e) {
			say('screenshot failed: ' + e.message);
		}
	}
	say('browser log: ' + logPath);
	if (browser)
		await browser.close().catch(() => {});
	process.exit(1);
}

// Even a hung browser cannot keep the test waiting past its limit.
setTimeout(() => fail(new Error(`whole run over ${cfg.timeout_ms} ms`)),
	cfg.timeout_ms).unref();
// The test stops us when its side failed: still leave a screenshot.
process.on('SIGTERM', () => fail(new Error('stopped by the test')));

// Resolved when the page's WebSocket closes; with the last frame the
// server sent, which usually says why (a SASL <failure/>, a stream error).
let lastIn = '(none)';
let wsClosed;
const closed = new Promise((resolve) => { wsClosed = resolve; });

function watch(p) {
	p.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
	p.on('pageerror', (e) => log(`pageerror: ${e.message}`));
	p.on('requestfailed', (r) =>
		log(`requestfailed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
	p.on('response', (r) => log(`http ${r.status()} ${r.request().method()} ${r.url()}`));
	// BOSH: each request's body and its answer, as the frames below.
	p.on('requestfinished', async (r) => {
		if (!cfg.bosh || !r.url().startsWith(cfg.bosh))
			return;
		log(`bosh> ${r.postData()}`);
		const res = await r.response();
		log(`bosh< ${res ? await res.text().catch((e) => e.message) : '(no response)'}`);
	});
	p.on('websocket', (ws) => {
		log(`websocket open ${ws.url()}`);
		ws.on('framesent', (f) => log(`ws> ${f.payload}`));
		ws.on('framereceived', (f) => { lastIn = String(f.payload); log(`ws< ${lastIn}`); });
		ws.on('socketerror', (e) => log(`websocket error: ${e}`));
		ws.on('close', () => { log('websocket closed'); wsClosed(); });
	});
}

async function main() {
	// Names like upload.localhost resolve to the loopback address, as DNS
	// would have them in production; every other name resolves nowhere,
	// without a DNS query (Converse's login page shows logos from its web
	// site, say): the test talks to this machine only.
	const rules = (cfg.resolve || []).map((h) => `MAP ${h} 127.0.0.1`)
		.concat(['MAP * ~NOTFOUND', 'EXCLUDE 127.0.0.1']).join(', ');
	browser = await chromium.launch({
		executablePath: cfg.chromium,
		headless: true,
		timeout: WAIT,
		args: [`--host-resolver-rules=${rules}`],
		// Our TERM handler takes the screenshot before the browser goes.
		handleSIGTERM: false,
		handleSIGINT: false,
	});
	log(`chromium ${browser.version()}`);
	const context = await browser.newContext({
		viewport: { width: 1200, height: 800 },
		ignoreHTTPSErrors: !!cfg.ignore_https_errors,
	});
	// And the page's requests elsewhere are refused before they start.
	const local = new Set(['127.0.0.1', ...(cfg.resolve || [])]);
	await context.route('**/*', (r) => {
		const host = new URL(r.request().url()).hostname;
		return local.has(host) ? r.continue() : r.abort('blockedbyclient');
	});
	page = await context.newPage();
	page.setDefaultTimeout(WAIT);
	watch(page);

	say('step: load');
	await page.goto(cfg.page);
	const form = page.locator('converse-login-form form');
	await form.locator('input[name="jid"]').waitFor();

	say('step: login');
	await form.locator('input[name="jid"]').fill(cfg.jid);
	await form.locator('input[name="password"]').fill(cfg.password);
	await form.locator('button[type="submit"]').click();
	// Logged in when the roster shows; a WebSocket that closes first
	// means the login failed, and waiting on would only waste time.
	const roster = page.locator('converse-roster').waitFor().then(() => true);
	if (!await Promise.race([roster, closed.then(() => false)]))
		throw new Error(`not logged in: the WebSocket closed; the server's last frame: ${lastIn}`);

	say('step: open chat');
	await page.locator('.dropdown--contacts .dropdown-toggle').click();
	await page.locator('a.new-chat').click();
	const modal = page.locator('converse-new-chat-modal');
	await modal.locator('input[name="jid"]').fill(cfg.peer);
	await modal.locator('button[type="submit"]').click();
	// Converse's custom elements have no box of their own: wait for them to
	// be in the page, and for what is inside them to be visible.
	const attached = { state: 'attached' };
	const chat = page.locator(`converse-chat[jid="${cfg.peer}"]`);
	await chat.waitFor(attached);

	say('step: send');
	const textarea = chat.locator('textarea.chat-textarea');
	await textarea.fill(cfg.send);
	await textarea.press('Enter');
	await chat.locator('converse-chat-message', { hasText: cfg.send }).waitFor(attached);
	say('sent');

	say('step: receive');
	await chat.locator('converse-chat-message', { hasText: cfg.expect }).waitFor(attached);
	say('received');

	say('step: upload');
	// The paperclip and its hidden file input appear once Converse has
	// found the upload service through disco.
	const input = chat.locator('input.fileupload');
	await input.waitFor(attached);
	await input.setInputFiles(cfg.image);
	// The message with the link renders the image once the browser has
	// fetched it back from the server.
	const name = path.basename(cfg.image);
	const img = chat.locator(`converse-chat-message img[src*="${name}"]`);
	await img.waitFor();
	await page.waitForFunction(
		(el) => el.complete && el.naturalWidth > 0, await img.elementHandle(),
		{ timeout: WAIT });
	const url = await img.getAttribute('src');
	say('uploaded: ' + url);

	await page.screenshot({ path: path.join(cfg.out, 'final.png'), fullPage: true });
	await browser.close();
	log('done');
	process.exit(0);
}

main().catch(fail);
