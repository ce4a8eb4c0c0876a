/**
 * GraphiQL in a real browser: Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`;
 * .ci/run installs it) driven by playwright-core, never a downloaded browser. A person's path:
 * open the page, put a token in Headers, run a query, subscribe to conversationEvents and watch a
 * reply stream in; and the same with the Sign in panel instead of Headers. The page may talk to
 * the gateway only. Screenshots go to test-results/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestSystem, type TestSystem } from '../support/system';

// The callbacks given to page.evaluate run in the page; tsconfig has no DOM types, so these stand in for them.
declare const document: any;
declare const window: any;

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const RESULTS = new URL('../../test-results/', import.meta.url);

/** A page with what it asked for and what it complained about. */
interface Watched {
  page: Page;
  /** host:port of every HTTP request and WebSocket the page opened. */
  hosts: Set<string>;
  /** Console errors and uncaught exceptions. */
  problems: string[];
  /** Each value the response pane showed, in order (recorded in the page). */
  responses(): Promise<string[]>;
}

async function openGraphiql(context: BrowserContext, url: string): Promise<Watched> {
  const page = await context.newPage();
  const hosts = new Set<string>();
  const problems: string[] = [];
  const note = (raw: string) => {
    const target = new URL(raw);
    if (target.protocol !== 'data:' && target.protocol !== 'blob:') hosts.add(`${target.protocol}//${target.host}`);
  };
  page.on('request', (request) => note(request.url()));
  page.on('websocket', (socket) => note(socket.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(url);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 30_000 });
  // Record every value the response pane takes: a subscription's events replace each other there.
  await page.evaluate(() => {
    const cm = (document.querySelector('.graphiql-response .CodeMirror') as any).CodeMirror;
    (window as any).__responses = [];
    cm.on('change', () => (window as any).__responses.push(cm.getValue()));
  });
  return { page, hosts, problems, responses: () => page.evaluate(() => (window as any).__responses as string[]) };
}

const QUERY_EDITOR = '.graphiql-query-editor';
const VISIBLE_TOOL = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';

/** Sets an editor's text as a paste would: select all, insert. */
async function typeInto(page: Page, selector: string, text: string): Promise<void> {
  await page.click(`${selector} .CodeMirror-scroll`);
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
  const value = await page.evaluate((s) => (document.querySelector(`${s} .CodeMirror`) as any).CodeMirror.getValue(), selector);
  expect(value).toBe(text);
}

/** Types an operation into the query editor, and waits until GraphiQL has parsed it (it does so after a pause). */
async function typeOperation(page: Page, text: string): Promise<void> {
  await typeInto(page, QUERY_EDITOR, text);
  await page.waitForFunction(() => {
    const cm = (document.querySelector('.graphiql-query-editor .CodeMirror') as any).CodeMirror;
    return cm.documentAST?.loc?.source?.body === cm.getValue();
  });
}


async function showTool(page: Page, name: 'variables' | 'headers'): Promise<void> {
  await page.click(`.graphiql-editor-tools button[data-name="${name}"]`);
  await page.waitForSelector(`${VISIBLE_TOOL} .CodeMirror`);
}

const responseText = (page: Page) => page.evaluate(() => (document.querySelector('.graphiql-response .CodeMirror') as any).CodeMirror.getValue() as string);

/** Waits until the response pane holds JSON for which `predicate` holds; returns it. */
async function waitForResponse(page: Page, predicate: (body: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await responseText(page);
    try {
      const body = JSON.parse(last);
      if (predicate(body)) return body;
    } catch {
      // not JSON yet (empty while fetching)
    }
    await page.waitForTimeout(50);
  }
  const screenshot = new URL(`failed-${Date.now()}.png`, RESULTS).pathname;
  await page.screenshot({ path: screenshot });
  throw new Error(`the response pane never showed what was expected (screenshot: ${screenshot}); it shows:\n${last}`);
}

async function openTab(page: Page, title: string): Promise<void> {
  await page.click(`.graphiql-tab-button:has-text("${title}")`);
  await page.waitForFunction(
    (t) => document.querySelector('.graphiql-tab-active .graphiql-tab-button')?.innerText.trim() === t,
    title,
  );
}

/** The REPLY_DELTA texts, in sequence order, and the final event, from the pane's successive values. */
function streamedReply(responses: string[], replyId: string) {
  const events = responses.flatMap((text) => {
    try {
      const event = JSON.parse(text)?.data?.conversationEvents;
      return event ? [event] : [];
    } catch {
      return [];
    }
  });
  const deltas = new Map<number, string>();
  for (const e of events) if (e.kind === 'REPLY_DELTA' && e.messageId === replyId) deltas.set(e.sequence, e.delta);
  const sequences = [...deltas.keys()].sort((a, b) => a - b);
  return {
    events,
    sequences,
    text: sequences.map((s) => deltas.get(s)).join(''),
    completed: events.find((e) => e.kind === 'REPLY_COMPLETED' && e.messageId === replyId),
  };
}

describe('GraphiQL in Chromium', () => {
  let t: TestSystem;
  let browser: Browser;

  beforeAll(async () => {
    // Missing Chromium is a failure, not a skip: CI installs it (.ci/run), and so can you.
    if (!existsSync(CHROMIUM)) {
      throw new Error(`No Chromium at ${CHROMIUM}. Install Debian's: apt-get install -y chromium (or set CHROMIUM_PATH).`);
    }
    mkdirSync(RESULTS, { recursive: true });
    t = await startTestSystem('pglite', { OFFLINE_WORD_DELAY_MS: '15' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  /** A user with a character and a conversation, made over HTTP. */
  async function chatter(name: string) {
    const user = await t.signUp(name);
    const character = await t.gql(`mutation { createCharacter(input: { name: "Captain Nemo", greeting: "Welcome aboard the Nautilus." }) { id } }`, {}, user.token);
    const started = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c, title: "Under the sea" }) { id } }`, { c: character.data.createCharacter.id }, user.token);
    expect(started.errors).toBeUndefined();
    return { ...user, conversationId: started.data.startConversation.id as string };
  }

  async function send(token: string, conversationId: string, content: string): Promise<{ messageId: string; replyId: string }> {
    const sent = await t.gql(`mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } reply { id } } }`, { input: { conversationId, content } }, token);
    expect(sent.errors).toBeUndefined();
    return { messageId: sent.data.sendMessage.message.id, replyId: sent.data.sendMessage.reply.id };
  }

  const ended = (replyId: string) => (body: any) => body.data?.conversationEvents?.kind === 'REPLY_COMPLETED' && body.data.conversationEvents.messageId === replyId;

  async function storedContent(token: string, messageId: string): Promise<string> {
    const stored = await t.gql(`query($id: ID!) { message(id: $id) { status content } }`, { id: messageId }, token);
    expect(stored.data.message.status).toBe('COMPLETED');
    return stored.data.message.content;
  }

  it('runs a query with a token in Headers, then streams a reply into a conversationEvents subscription', async () => {
    const ada = await chatter('Ada');
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const w = await openGraphiql(context, t.gatewayUrl);
    const { page } = w;

    // The page is GraphiQL, opened on the examples: the first tab explains how to get a token.
    expect(await page.title()).toContain('GraphiQL');
    const editorValue = (selector: string) => page.evaluate((s) => (document.querySelector(`${s} .CodeMirror`) as any).CodeMirror.getValue() as string, selector);
    const firstTab = await editorValue(QUERY_EDITOR);
    expect(firstTab).toContain('mutation Register');
    expect(firstTab).toContain('"Authorization": "Bearer <accessToken>"');
    expect(JSON.parse(await editorValue(VISIBLE_TOOL))).toMatchObject({ email: 'ada@example.com', displayName: 'Ada' });

    // A query of one's own in the first tab, with the token pasted into Headers.
    await typeOperation(page, 'query Mine($id: ID!) {\n  me { displayName }\n  conversation(id: $id) { title character { name } messages { edges { node { role content } } } }\n}');
    await showTool(page, 'variables');
    await typeInto(page, VISIBLE_TOOL, JSON.stringify({ id: ada.conversationId }));
    await showTool(page, 'headers');
    await typeInto(page, VISIBLE_TOOL, `{ "Authorization": "Bearer ${ada.token}" }`);
    await page.click('.graphiql-execute-button');
    const result = await waitForResponse(page, (body) => body.data?.conversation);
    expect(result.errors).toBeUndefined();
    expect(result.data.me).toEqual({ displayName: 'Ada' });
    expect(result.data.conversation).toMatchObject({ title: 'Under the sea', character: { name: 'Captain Nemo' } });
    expect(result.data.conversation.messages.edges[0].node).toEqual({ role: 'ASSISTANT', content: 'Welcome aboard the Nautilus.' });
    await page.screenshot({ path: new URL('graphiql-query.png', RESULTS).pathname });

    // The subscription tab, as a person would use it: the conversation's id in Variables, the token in Headers.
    await openTab(page, 'ConversationEvents');
    await showTool(page, 'variables');
    await typeInto(page, VISIBLE_TOOL, JSON.stringify({ conversationId: ada.conversationId }, null, 2));
    await showTool(page, 'headers');
    await typeInto(page, VISIBLE_TOOL, `{ "Authorization": "Bearer ${ada.token}" }`);
    const subscribed = page.waitForEvent('websocket').then((socket) =>
      socket.waitForEvent('framesent', { predicate: (frame) => String(frame.payload).includes('"subscribe"') }),
    );
    await page.click('.graphiql-execute-button');
    await subscribed;
    await page.waitForTimeout(300); // the gateway subscribes to the messages subgraph
    // A first reply proves the subscription is live; the second is watched from its very start.
    await waitForResponse(page, ended((await send(ada.token, ada.conversationId, 'Ahoy?')).replyId));

    const { messageId, replyId } = await send(ada.token, ada.conversationId, 'Where are we headed, Captain?');
    const completed = await waitForResponse(page, ended(replyId));
    const final = await storedContent(ada.token, replyId);
    expect(completed.data.conversationEvents.message).toMatchObject({ id: replyId, status: 'COMPLETED', content: final, conversation: { title: 'Under the sea', character: { name: 'Captain Nemo' } } });
    expect(final).toContain('Where are we headed, Captain?');

    // The pane showed the reply as it was written: every piece, in order, giving the final text.
    const stream = streamedReply(await w.responses(), replyId);
    expect(stream.sequences.length).toBeGreaterThan(3);
    expect(stream.sequences).toEqual(stream.sequences.map((_, i) => i));
    expect(stream.text).toBe(final);
    const created = stream.events.filter((e) => e.kind === 'MESSAGE_CREATED' && [messageId, replyId].includes(e.messageId));
    expect(created.map((e) => e.message.role)).toEqual(['USER', 'ASSISTANT']);
    await page.screenshot({ path: new URL('graphiql-subscription.png', RESULTS).pathname });

    // ■ stops the subscription.
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(() => !document.querySelector('.graphiql-execute-button')?.getAttribute('aria-label')?.includes('Stop'));

    expect(w.problems).toEqual([]);
    expect([...w.hosts].sort()).toEqual([...new Set([new URL(t.gatewayUrl).origin, new URL(t.gatewayUrl).origin.replace(/^http/, 'ws')])].sort());
    await context.close();
  }, 120_000);

  it('signs up with the Sign in panel, whose token every tab without Headers uses, and sends a message from it', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // GraphiQL at / too.
    const w = await openGraphiql(context, `${new URL(t.gatewayUrl).origin}/`);
    const { page } = w;

    // A first visit opens the Sign in panel.
    const panel = page.locator('.chat-panel');
    await panel.waitFor();
    await panel.locator('input[name="email"]').fill('grace@example.com');
    await panel.locator('input[name="password"]').fill('correct horse battery');
    await panel.locator('input[name="displayName"]').fill('Grace');
    await panel.locator('button', { hasText: 'Sign up' }).click();
    await panel.locator('.chat-panel-signed-in', { hasText: 'Grace' }).waitFor();

    // No Headers: the panel's token is used.
    await typeOperation(page, 'mutation Start {\n  createCharacter(input: { name: "Ada Lovelace", greeting: "Shall we compute?" }) { id name owner { displayName } }\n}');
    await page.click('.graphiql-execute-button');
    const created = await waitForResponse(page, (body) => body.data?.createCharacter || body.errors);
    expect(created.errors).toBeUndefined();
    expect(created.data.createCharacter.owner).toEqual({ displayName: 'Grace' });
    const login = await t.gql(`mutation { login(input: { email: "grace@example.com", password: "correct horse battery" }) { accessToken } }`);
    const token = login.data.login.accessToken as string;
    const started = await t.gql(`mutation($c: ID!) { startConversation(input: { characterId: $c }) { id } }`, { c: created.data.createCharacter.id }, token);
    const conversationId = started.data.startConversation.id as string;

    // The subscription with no Headers, and a message sent from the panel while it runs.
    await openTab(page, 'ConversationEvents');
    await showTool(page, 'variables');
    await typeInto(page, VISIBLE_TOOL, JSON.stringify({ conversationId }));
    const subscribed = page.waitForEvent('websocket').then((socket) =>
      socket.waitForEvent('framesent', { predicate: (frame) => String(frame.payload).includes('"subscribe"') }),
    );
    await page.click('.graphiql-execute-button');
    await subscribed;
    await page.waitForTimeout(300);
    await panel.locator('input[name="conversationId"]').fill(conversationId);
    await panel.locator('textarea[name="content"]').fill('What is the Analytical Engine?');
    await panel.locator('button', { hasText: 'Send' }).click();
    await panel.locator('[role="status"]', { hasText: 'Sent.' }).waitFor();
    const replyId = /The reply (\S+) is/.exec(await panel.locator('[role="status"]', { hasText: 'Sent.' }).innerText())![1];

    const completed = await waitForResponse(page, ended(replyId));
    const final = await storedContent(token, replyId);
    expect(completed.data.conversationEvents.message.content).toBe(final);
    const stream = streamedReply(await w.responses(), replyId);
    expect(stream.text).toBe(final);
    expect(final).toContain('What is the Analytical Engine?');
    await page.screenshot({ path: new URL('graphiql-sign-in-panel.png', RESULTS).pathname });
    await page.click('.graphiql-execute-button');

    expect(w.problems).toEqual([]);
    for (const host of w.hosts) expect(new URL(host).host).toBe(new URL(t.gatewayUrl).host);
    await context.close();
  }, 120_000);

  it('explains a refused subscription (no token) in the response pane', async () => {
    const ada = await chatter('Lin');
    const context = await browser.newContext();
    const w = await openGraphiql(context, t.gatewayUrl);
    await w.page.locator('.chat-panel').waitFor();
    await openTab(w.page, 'ConversationEvents');
    await showTool(w.page, 'variables');
    await typeInto(w.page, VISIBLE_TOOL, JSON.stringify({ conversationId: ada.conversationId }));
    await w.page.click('.graphiql-execute-button');
    await w.page.waitForFunction(() => (document.querySelector('.graphiql-response .CodeMirror') as any).CodeMirror.getValue().includes('4403'), undefined, { timeout: 20_000 });
    expect(await responseText(w.page)).toContain('Put { \\"Authorization\\": \\"Bearer <accessToken>\\" } in Headers');
    await context.close();
  }, 60_000);

  it('streams a reply over Server-Sent Events when the Sign in panel picks them, and explains a refused stream', async () => {
    const ada = await chatter('Mary');
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const w = await openGraphiql(context, t.gatewayUrl);
    const { page } = w;
    const panel = page.locator('.chat-panel');
    await panel.waitFor();
    await panel.locator('select[name="transport"]').selectOption('sse');

    // Without a token first: the refusal, in words.
    await openTab(page, 'ConversationEvents');
    await showTool(page, 'variables');
    await typeInto(page, VISIBLE_TOOL, JSON.stringify({ conversationId: ada.conversationId }, null, 2));
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(() => (document.querySelector('.graphiql-response .CodeMirror') as any).CodeMirror.getValue().includes('401'), undefined, { timeout: 20_000 });
    expect(await responseText(page)).toContain('Put { \\"Authorization\\": \\"Bearer <accessToken>\\" } in Headers');

    // With the token in Headers: an event stream at /graphql/stream, no WebSocket.
    await showTool(page, 'headers');
    await typeInto(page, VISIBLE_TOOL, `{ "Authorization": "Bearer ${ada.token}" }`);
    const streamed = page.waitForResponse((response) => new URL(response.url()).pathname === '/graphql/stream' && response.status() === 200);
    await page.click('.graphiql-execute-button');
    await streamed;
    // A first reply proves the subscription is live; the second is watched from its very start.
    await waitForResponse(page, ended((await send(ada.token, ada.conversationId, 'Ahoy?')).replyId));
    const { replyId } = await send(ada.token, ada.conversationId, 'Is the creature alive?');
    const completed = await waitForResponse(page, ended(replyId));
    const final = await storedContent(ada.token, replyId);
    expect(completed.data.conversationEvents.message).toMatchObject({ id: replyId, content: final, conversation: { title: 'Under the sea' } });
    expect(streamedReply(await w.responses(), replyId).text).toBe(final);
    await page.screenshot({ path: new URL('graphiql-sse.png', RESULTS).pathname });
    await page.click('.graphiql-execute-button');

    expect(w.problems.filter((p) => !p.includes('401'))).toEqual([]);
    expect([...w.hosts]).toEqual([new URL(t.gatewayUrl).origin]);
    // The choice is kept in this browser.
    expect(await page.evaluate(() => window.localStorage.getItem('chat:subscriptionTransport'))).toBe('sse');
    await context.close();
  }, 120_000);
});
