import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { asyncapi } from '../../src/asyncapi/index.js';
import { serveDocs } from '../../src/cli/docs-server.js';
import { ListSub, PubSub, RedisBroker, StreamSub } from '../../src/index.js';

// The docs page in a real browser (Debian's Chromium), offline: no Redis, no network.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const INJECTION = '</script><script>window.injected = true</script>';
const SCREENSHOT =
  process.env['UPDATE_SCREENSHOT'] === '1' ? fileURLToPath(new URL('../../docs/asyncapi-page.png', import.meta.url)) : join(tmpdir(), `redstream-asyncapi-page-${process.pid}.png`);

function documentOfAService(): Record<string, unknown> {
  // describe() reads what was registered and never connects, so the broker points nowhere.
  const broker = new RedisBroker('redis://127.0.0.1:1', { logger: null });
  const Order = z.object({ id: z.string(), amount: z.number().positive(), currency: z.enum(['EUR', 'USD']) });
  broker.subscriber(new StreamSub('orders', { group: 'billing', consumer: 'c1' }), { schema: Order, description: 'New orders to bill.' }, function onOrder() {});
  broker.subscriber(new PubSub('logs.{level}'), function onLog() {});
  broker.subscriber(new ListSub('emails'), function sendEmail() {});
  broker.publisher({ stream: 'invoices' }, { description: 'Invoices once an order is billed.' });
  // The description would end the page's <script> if the embedded document were not escaped.
  return asyncapi(broker, { title: 'Billing service', version: '1.2.0', description: `Bills orders & sends invoices.${INJECTION}` });
}

describe('the AsyncAPI docs page', () => {
  let browser: Browser;
  const doc = documentOfAService();

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('renders the channels, operations, messages and payloads, offline and without errors', { timeout: 60_000 }, async () => {
    const docs = await serveDocs(doc, { port: 0 });
    const context = await browser.newContext({ viewport: { width: 1700, height: 1000 } });
    try {
      const origin = new URL(docs.url).origin;
      expect(docs.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(docs.url).not.toBe('http://127.0.0.1:0/');

      const page = await context.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText})`));
      page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
      });
      page.on('request', (request) => requests.push(request.url()));

      const response = await page.goto(docs.url);
      expect(response?.status()).toBe(200);
      const html = await response!.text();
      expect(html).not.toMatch(/https?:\/\/|(?:src|href)="\/\//);
      expect(html).not.toContain(INJECTION);

      // The component parses the document, then renders it: the operations section is there once it is done.
      const root = page.locator('#asyncapi .aui-root');
      await root.locator('#operations').waitFor({ state: 'visible', timeout: 30_000 });
      await root.locator('#introduction').getByText('Billing service').waitFor({ state: 'visible' });
      await root.locator('#introduction').getByText('Bills orders & sends invoices.').waitFor({ state: 'visible' });
      expect(JSON.parse((await page.locator('#asyncapi-document').textContent()) ?? '')).toEqual(doc);
      expect(await page.evaluate<unknown>('window.injected')).toBeUndefined();

      const channels = Object.values(doc['channels'] as Record<string, { address: string }>).map((channel) => channel.address);
      const messages = Object.values((doc['components'] as { messages: Record<string, { name: string }> }).messages).map((message) => message.name);
      expect(channels).toEqual(['orders', 'logs.{level}', 'emails', 'invoices']);
      expect(messages).toHaveLength(4);
      for (const text of [...channels, ...messages]) {
        const shown = root.getByText(text, { exact: true }).first();
        await shown.waitFor({ state: 'visible' });
        expect(await shown.isVisible(), text).toBe(true);
      }
      // The zod schema's payload: an example made from it is shown; expanded, its properties, rules and the enum's values.
      await root.getByText('"currency": "EUR"').first().waitFor({ state: 'visible' });
      // One click on the payload schema's own "Expand all" (clicking every such button in a loop
      // raced the re-render that turns each into "Collapse all").
      const payload = root.locator('#schemas');
      await payload.getByText('Expand all', { exact: true }).first().click();
      for (const text of ['orders_OnOrder_Message_Payload', 'id', 'amount', 'currency', '"EUR"', '"USD"']) {
        await payload.getByText(text, { exact: true }).first().waitFor({ state: 'visible' });
      }

      // The first screen, for the README (`UPDATE_SCREENSHOT=1` writes docs/asyncapi-page.png).
      await page.setViewportSize({ width: 1700, height: 1100 });
      await page.evaluate('window.scrollTo(0, 0)');
      await mkdir(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });

      expect(problems).toEqual([]);
      expect(requests.length).toBeGreaterThanOrEqual(3);
      expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    } finally {
      await context.close();
      await docs.close();
    }
  });

  it('serves the same document as JSON and as YAML, and 404 for anything else', async () => {
    const docs = await serveDocs(doc, { port: 0 });
    try {
      const json = await fetch(new URL('asyncapi.json', docs.url));
      expect(json.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await json.json()).toEqual(doc);
      const yaml = await fetch(new URL('asyncapi.yaml', docs.url));
      expect(yaml.status).toBe(200);
      expect(parse(await yaml.text())).toEqual(doc);
      expect((await fetch(new URL('nothing-here', docs.url))).status).toBe(404);
    } finally {
      await docs.close();
    }
  });
});
