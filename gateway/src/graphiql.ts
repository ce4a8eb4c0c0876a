/**
 * GraphiQL, served by the gateway from packages installed with the project: no CDN, no request to
 * any other host. The page is GraphiQL 3's browser build on React 18's UMD build, graphql-ws's
 * and graphql-sse's browser builds for subscriptions, and gateway/graphiql/setup.js, which wires them to this gateway
 * (see there). Its default tabs are the operations of examples/*.graphql, which
 * test/examples/examples.test.ts runs against a real system.
 *
 *   GET /                    the page
 *   GET /graphql             the page, when the request prefers text/html (a browser); anything
 *                            else is GraphQL as before
 *   GET /graphiql/assets/*   its scripts and styles, each at a URL naming its content (cached for good)
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Where the page's scripts and styles are served. */
export const GRAPHIQL_ASSETS_PATH = '/graphiql/assets/';
/** The example operations GraphiQL opens with. */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../examples/', import.meta.url));
const BROWSER_DIR = fileURLToPath(new URL('../graphiql/', import.meta.url));

const require = createRequire(import.meta.url);
/** A file of an installed package (resolved through its package.json, which every one exports). */
const packageFile = (name: string, path: string) => join(dirname(require.resolve(`${name}/package.json`)), path);

/** The page's assets in the order the page loads them. */
const ASSET_FILES: Array<{ name: string; file: () => string; type: string }> = [
  { name: 'graphiql.min.css', file: () => packageFile('graphiql', 'graphiql.min.css'), type: 'text/css; charset=utf-8' },
  { name: 'page.css', file: () => join(BROWSER_DIR, 'page.css'), type: 'text/css; charset=utf-8' },
  { name: 'react.production.min.js', file: () => packageFile('react', 'umd/react.production.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'react-dom.production.min.js', file: () => packageFile('react-dom', 'umd/react-dom.production.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'graphql-ws.min.js', file: () => packageFile('graphql-ws', 'umd/graphql-ws.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'graphql-sse.min.js', file: () => packageFile('graphql-sse', 'umd/graphql-sse.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'graphiql.min.js', file: () => packageFile('graphiql', 'graphiql.min.js'), type: 'text/javascript; charset=utf-8' },
  { name: 'setup.js', file: () => join(BROWSER_DIR, 'setup.js'), type: 'text/javascript; charset=utf-8' },
];

interface Asset {
  name: string;
  type: string;
  body: Buffer;
  gzipped?: Buffer;
  /** A hash of the content: part of the asset's URL and its ETag. */
  version: string;
}

/** One example operation: examples/<file>.graphql. */
export interface Example {
  file: string;
  operationName: string;
  operation: 'query' | 'mutation' | 'subscription';
  /** The file's leading comment, without its Variables block. */
  description: string;
  /** The operation itself (everything after the leading comment). */
  document: string;
  /** The JSON of the comment's "Variables:" block ({} without one); "<name>" strings stand for earlier results. */
  variables: Record<string, unknown>;
}

/**
 * Reads an example: a leading `#` comment (a description, then optionally `# Variables:` and a
 * JSON object, commented line by line), then one named operation.
 */
export function parseExample(file: string, text: string): Example {
  const lines = text.split('\n');
  let header = 0;
  while (header < lines.length && lines[header].startsWith('#')) header += 1;
  const comment = lines.slice(0, header).map((line) => line.replace(/^# ?/, ''));
  const variablesAt = comment.findIndex((line) => /^Variables:\s*$/.test(line));
  const description = (variablesAt < 0 ? comment : comment.slice(0, variablesAt)).join('\n').trim();
  let variables: Record<string, unknown> = {};
  if (variablesAt >= 0) {
    try {
      variables = JSON.parse(comment.slice(variablesAt + 1).join('\n'));
    } catch (error) {
      throw new Error(`examples/${file}: the Variables block is not JSON: ${(error as Error).message}`);
    }
  }
  const document = lines.slice(header).join('\n').trim();
  const match = /^(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/m.exec(document);
  if (!match) throw new Error(`examples/${file}: expected one named query, mutation or subscription`);
  return { file, operation: match[1] as Example['operation'], operationName: match[2], description, document, variables };
}

/** Every examples/*.graphql, in file name order. */
export function readExamples(dir = EXAMPLES_DIR): Example[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => parseExample(name, readFileSync(join(dir, name), 'utf8')));
}

/** A tab GraphiQL opens with (GraphiQL's TabDefinition). */
export interface GraphiqlTab {
  query: string;
  variables?: string;
  headers?: string;
}

const comment = (text: string) =>
  text
    .split('\n')
    .map((line) => (line ? `# ${line}` : '#'))
    .join('\n');

/** The default tabs: an introduction, then the examples named, in this order. */
export const TAB_PLAN: Array<{ intro: string; operations: string[] }> = [
  {
    intro: `Character Chat: GraphiQL
========================

Most operations need an access token. To get one:
  1. Run Register below (the ▶ button asks which operation; edit email, password and displayName in
     Variables first), or Login if you have an account. The Sign in panel (the key icon, left) does
     the same with a form.
  2. Copy the accessToken from the result into Headers (below Variables), as
       { "Authorization": "Bearer <accessToken>" }
     Each tab has its own Headers. A token from the Sign in panel is used by every tab whose Headers
     carry no Authorization. A token is valid 15 minutes; RefreshSession gives a new one.
  3. The next tabs: characters, conversations, chat, and a reply streaming live.

In every tab, replace each "<...>" in Variables with what an earlier result returned.
Docs (the book icon) has the whole schema; History (the clock) what you ran.`,
    operations: ['Register', 'Login', 'Me', 'RefreshSession', 'Logout'],
  },
  {
    intro: `Your account and your data: your profile and password, your sessions, and deleting your account
(everything you own, in every part of the system). Admins run retention (README, "Your data").`,
    operations: ['UpdateProfile', 'ChangePassword', 'LogoutEverywhere', 'RunRetention', 'DeleteAccount'],
  },
  {
    intro: `Characters: personas the model plays. Create one, then start a conversation with it (next tab).`,
    operations: ['CreateCharacter', 'Characters', 'Character', 'UpdateCharacter', 'DeleteCharacter'],
  },
  {
    intro: `Conversations with a character. StartConversation needs a characterId (CreateCharacter or Characters
in the previous tab); the conversation's first message is the character's greeting.`,
    operations: ['StartConversation', 'Conversation', 'MyConversations', 'UpdateConversation', 'PromptPreview', 'ArchiveConversation', 'UnarchiveConversation', 'DeleteConversation', 'RestoreConversation'],
  },
  {
    intro: `Watch a reply stream in
=======================

1. Put a conversationId in Variables (StartConversation returns one), and your token in Headers
   (or sign in with the Sign in panel).
2. Run ConversationEvents: it keeps running (▶ turns into ■) and shows each event as it comes.
3. Send a message: from the Sign in panel's "Send a message" form, from a second GraphiQL window
   (SendMessage in the next tab), or with curl. Each REPLY_DELTA here carries the next piece of the
   reply; REPLY_COMPLETED carries the whole reply.`,
    operations: ['ConversationEvents'],
  },
  {
    intro: `Chat. SendMessage answers at once, with the reply PENDING; its text streams as conversationEvents
(previous tab) and is stored as it grows (Message shows it).`,
    operations: ['SendMessage', 'Message', 'RegenerateReply', 'CancelReply', 'GenerationDeadLetters', 'ModerationPolicy', 'SetModerationPolicy', 'SystemStatus'],
  },
  {
    intro: `Credits. Each reply holds the most it can cost when it is asked for, and settles to what it used when
it ends, however it ends; CreditLedger shows every movement, and they add up to your balance. Cap your own
spending a day or a month, or bring your own provider key: replies on it cost no credits.`,
    operations: ['CreditLedger', 'GrantCredits', 'SetSpendingLimit', 'SetProviderKey', 'DeleteProviderKey'],
  },
  {
    intro: `Models. LlmProviders lists every provider the operator configured, its status and the models it offers
with their prices in credits per token; a conversation's settings name one provider and one of its models
(UpdateConversation). ValidateLlmSettings asks the provider for a one-token answer.`,
    operations: ['LlmProviders', 'ValidateLlmSettings'],
  },
  {
    intro: `Branches. A conversation is a tree: rerolls (RegenerateReply) and edits are alternatives of a message,
and the active path through them is what Conversation.messages lists and what the next reply is built
from. Swipe with SelectAlternative, keep a reply going with ContinueReply, branch off with
ForkConversation; MessageTree lists every branch.`,
    operations: ['ContinueReply', 'EditMessage', 'SelectAlternative', 'MessageTree', 'DeleteMessage', 'RestoreMessage', 'ForkConversation'],
  },
  {
    intro: `Character cards, lorebooks and personas. ImportCharacter takes a card file (PNG, JSON or CHARX) as base64
and ExportCharacter gives one back; lorebooks hold lore that enters prompts by keyword; a persona is who
you are in a conversation (StartConversationAsPersona uses one, with your lorebooks).`,
    operations: [
      'ImportCharacter',
      'ExportCharacter',
      'CreateLorebook',
      'UpdateLorebook',
      'Lorebook',
      'Lorebooks',
      'ImportLorebook',
      'CreatePersona',
      'UpdatePersona',
      'StartConversationAsPersona',
      'DeleteLorebook',
      'DeletePersona',
    ],
  },
  {
    intro: `Search, files, usage and templates. SearchMessages finds your own messages (web-search syntax); ExportConversation
gives a conversation as JSON, Markdown or SillyTavern's JSONL, and ImportConversation reads JSON or JSONL back as a
new conversation; MyUsage and UsageReport (admins) sum tokens and credits; templates are messages you send again
with sendMessage(input: { conversationId, templateId }).`,
    operations: [
      'SearchMessages',
      'ExportConversation',
      'ImportConversation',
      'MyUsage',
      'UsageReport',
      'CreateMessageTemplate',
      'UpdateMessageTemplate',
      'MessageTemplates',
      'DeleteMessageTemplate',
    ],
  },
];

/** The tabs GraphiQL opens with, from the examples (the first value of a variable wins within a tab). */
export function graphiqlTabs(examples: Example[] = readExamples()): GraphiqlTab[] {
  const byName = new Map(examples.map((example) => [example.operationName, example]));
  return TAB_PLAN.map(({ intro, operations }) => {
    const included = operations.flatMap((name) => byName.get(name) ?? []);
    const variables: Record<string, unknown> = {};
    for (const example of included) {
      for (const [key, value] of Object.entries(example.variables)) if (!(key in variables)) variables[key] = value;
    }
    const query = [comment(intro), ...included.map((example) => `${comment(example.description)}\n${example.document}`)].join('\n\n');
    return { query: `${query}\n`, variables: JSON.stringify(variables, null, 2), headers: '' };
  });
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const { name, file, type } of ASSET_FILES) {
    const body = readFileSync(file());
    assets.set(name, { name, type, body, version: createHash('sha256').update(body).digest('hex').slice(0, 16) });
  }
  return assets;
}

/** The page; everything it loads is same-origin and relative, so it also works under a path prefix. */
function page(assets: Map<string, Asset>, tabs: GraphiqlTab[]): string {
  const url = (name: string) => `graphiql/assets/${assets.get(name)!.version}/${name}`;
  // JSON inside <script>: no "<" may end the element early.
  const config = JSON.stringify({ endpoint: 'graphql', tabs }).replace(/</g, '\\u003c');
  const styles = ASSET_FILES.filter((a) => a.name.endsWith('.css')).map((a) => `<link rel="stylesheet" href="${url(a.name)}">`);
  const scripts = ASSET_FILES.filter((a) => a.name.endsWith('.js')).map((a) => `<script src="${url(a.name)}"></script>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Character Chat · GraphiQL</title>
<link rel="icon" href="data:,">
${styles.join('\n')}
</head>
<body>
<div id="graphiql"><p class="graphiql-loading">Loading GraphiQL…</p></div>
<noscript>GraphiQL needs JavaScript. Without it, POST GraphQL to this URL with any HTTP client.</noscript>
<script type="application/json" id="graphiql-config">${config}</script>
${scripts.join('\n')}
</body>
</html>
`;
}

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-cache',
  // Everything the page needs comes from this server; 'self' covers the same-origin WebSocket.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** q of the best Accept entry matching `type` (exact, `major/*` or `* /*`); 0 when none does. */
function acceptQuality(accept: string, type: string): number {
  let best = 0;
  let bestSpecificity = -1;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    const q = Number(params.map((p) => p.trim()).find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    const specificity = range === type ? 2 : range === `${type.split('/')[0]}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity > bestSpecificity) {
      bestSpecificity = specificity;
      best = Number.isFinite(q) ? q : 0;
    }
  }
  return best;
}

/** Whether a request prefers an HTML page to a GraphQL response, as a browser's navigation does. */
export function prefersHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (!accept) return false;
  const html = acceptQuality(accept, 'text/html');
  return html > 0 && html > Math.max(acceptQuality(accept, 'application/json'), acceptQuality(accept, 'application/graphql-response+json'));
}

/** Serves GraphiQL; returns false for a request that is not GraphiQL's, for the next handler. */
export type GraphiqlHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Loads the assets (throws when a package is missing) and returns GraphiQL's request handler. */
export function createGraphiqlHandler(options: { graphqlPath: string; examplesDir?: string }): GraphiqlHandler {
  const assets = loadAssets();
  const html = Buffer.from(page(assets, graphiqlTabs(readExamples(options.examplesDir))));

  const send = (req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer) => {
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname === '/' || (pathname === options.graphqlPath && prefersHtml(req))) {
      send(req, res, 200, { ...PAGE_HEADERS, vary: 'accept' }, html);
      return true;
    }
    if (!pathname.startsWith(GRAPHIQL_ASSETS_PATH)) return false;
    // /graphiql/assets/<version>/<name>: any version serves the current file, so a page cached
    // across an upgrade still loads (a new page names new URLs).
    const name = pathname.slice(GRAPHIQL_ASSETS_PATH.length).split('/').at(-1) ?? '';
    const asset = assets.get(name);
    if (!asset) {
      send(req, res, 404, { 'content-type': 'text/plain; charset=utf-8' }, Buffer.from('not found'));
      return true;
    }
    const etag = `"${asset.version}"`;
    const headers: Record<string, string> = {
      'content-type': asset.type,
      'cache-control': 'public, max-age=31536000, immutable',
      etag,
      vary: 'accept-encoding',
      'x-content-type-options': 'nosniff',
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      asset.gzipped ??= gzipSync(asset.body);
      send(req, res, 200, { ...headers, 'content-encoding': 'gzip' }, asset.gzipped);
    } else {
      send(req, res, 200, headers, asset.body);
    }
    return true;
  };
}
