/**
 * The relay's chat page in Debian's Chromium (playwright-core, never a downloaded browser): two pages, each served
 * by a different `nopoll relay` process, the two relays sharing a real redis-server, chat with each other; one
 * types in the form, the other through `window.chat`.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { hasChromium, launchChromium } from '../helpers/browser.js';
import { expectLine, nopoll } from '../helpers/cli.js';
import { hasRedis, startRedis } from '../helpers/redis.js';

const skip = !hasChromium()
  ? 'Chromium is not installed (/usr/bin/chromium)'
  : !hasRedis()
    ? 'redis-server is not installed'
    : false;

async function relay(t: TestContext, redisUrl: string): Promise<number> {
  const cli = nopoll(t, ['relay', '--port', '0', '--host', '127.0.0.1', '--redis', redisUrl, '--mode', 'streams']);
  return Number((await expectLine(cli, /^listening on ws:\/\/127\.0\.0\.1:(\d+)\//, 15_000))[1]);
}

describe('relay chat page in Chromium', { skip }, () => {
  it('two pages on two relays sharing a Redis chat with each other', async (t) => {
    const redis = await startRedis(t);
    const [portA, portB] = await Promise.all([relay(t, redis.url), relay(t, redis.url)]);
    const browser = await launchChromium(t);
    const context = await browser.newContext();
    const ann = await context.newPage();
    const bob = await context.newPage();
    await ann.goto(`http://127.0.0.1:${portA}/?topic=room-1&name=ann`, { timeout: 15_000 });
    await bob.goto(`http://127.0.0.1:${portB}/?topic=room-1&name=bob`, { timeout: 15_000 });
    for (const page of [ann, bob])
      await page.waitForFunction('window.chat && window.chat.connected === true', undefined, { timeout: 15_000 });
    // Each relay subscribes its new topic on Redis as its page joins: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await ann.fill('#text', 'hello bob');
    await ann.click('#send');
    await bob.waitForFunction('window.chat.messages.includes("ann: hello bob")', undefined, { timeout: 10_000 });
    assert.equal(await bob.evaluate('window.chat.send("hi ann, from the other relay")'), true);
    await ann.waitForFunction('window.chat.messages.includes("bob: hi ann, from the other relay")', undefined, {
      timeout: 10_000,
    });
    assert.match((await bob.textContent('#log')) ?? '', /ann: hello bob/);
    // Each saw only the other's message (a relay does not send a message back to its sender).
    assert.deepEqual(await ann.evaluate('window.chat.messages'), ['bob: hi ann, from the other relay']);
    assert.deepEqual(await bob.evaluate('window.chat.messages'), ['ann: hello bob']);
  });
});
