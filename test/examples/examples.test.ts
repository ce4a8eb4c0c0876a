/**
 * examples/*.graphql run, in file name order, against a real system, so they never go stale:
 * each with the variables its "# Variables:" comment shows, where a "<name>" string is replaced
 * by what an earlier example returned (ids, tokens). The subscription runs over graphql-ws and
 * must deliver the reply SendMessage starts. Together they cover every public root field.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kind, parse, type ObjectTypeDefinitionNode, type OperationDefinitionNode } from 'graphql';
import type { Client } from 'graphql-ws';
import { graphiqlTabs, readExamples, TAB_PLAN, type Example } from '../../gateway/src/graphiql';
import { startTestSystem, type TestSystem } from '../support/system';
import { collect, wsClient, type Collector } from '../support/ws';

const examples = readExamples();

/** What later examples may refer to as "<name>", and which result of which example gives it. */
const CAPTURES: Record<string, (data: any) => Record<string, string>> = {
  Register: (data) => ({ accessToken: data.register.accessToken, refreshToken: data.register.refreshToken, userId: data.register.user.id }),
  Login: (data) => ({ accessToken: data.login.accessToken, refreshToken: data.login.refreshToken }),
  RefreshSession: (data) => ({ accessToken: data.refreshSession.accessToken, refreshToken: data.refreshSession.refreshToken }),
  CreateCharacter: (data) => ({ characterId: data.createCharacter.id }),
  StartConversation: (data) => ({ conversationId: data.startConversation.id }),
  SendMessage: (data) => ({ replyId: data.sendMessage.reply.id, messageId: data.sendMessage.message.id }),
  RegenerateReply: (data) => ({ replyId: data.regenerateReply.id }),
  EditMessage: (data) => ({ editedId: data.editMessage.message.id, replyId: data.editMessage.reply.id }),
  ImportCharacter: (data) => ({ importedCharacterId: data.importCharacter.id }),
  CreateLorebook: (data) => ({ lorebookId: data.createLorebook.id }),
  CreatePersona: (data) => ({ personaId: data.createPersona.id }),
  CreateMessageTemplate: (data) => ({ templateId: data.createMessageTemplate.id }),
  ChangePassword: (data) => ({ accessToken: data.changePassword.accessToken, refreshToken: data.changePassword.refreshToken }),
};

/** Examples only an admin may run: the test runs them as a user named in ADMIN_EMAILS. */
const AS_ADMIN = new Set(['GenerationDeadLetters', 'ModerationPolicy', 'SetModerationPolicy', 'SystemStatus', 'GrantCredits', 'UsageReport', 'RunRetention', 'DeleteAccount']);

/** Examples that end every session of their user: run as a user of their own, so the examples after them keep theirs. */
const AS_OTHER_USER = new Set(['LogoutEverywhere']);

/** Replaces each "<name>" string with state[name]. */
function resolve(value: unknown, state: Record<string, string>, file: string): unknown {
  if (typeof value === 'string') {
    const placeholder = /^<([A-Za-z]+)>$/.exec(value);
    if (!placeholder) return value;
    if (!(placeholder[1] in state)) throw new Error(`examples/${file} needs ${value}, which no earlier example returned (see CAPTURES in this test)`);
    return state[placeholder[1]];
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, state, file));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, state, file)]));
  return value;
}

/** The public root fields: Query, Mutation and Subscription of supergraph.graphql, without @inaccessible ones. */
function publicRootFields(): string[] {
  const sdl = parse(readFileSync(new URL('../../supergraph.graphql', import.meta.url), 'utf8'));
  return sdl.definitions
    .filter((d): d is ObjectTypeDefinitionNode => d.kind === Kind.OBJECT_TYPE_DEFINITION && ['Query', 'Mutation', 'Subscription'].includes(d.name.value))
    .flatMap((d) => (d.fields ?? []).filter((f) => !f.directives?.some((dir) => dir.name.value === 'inaccessible')).map((f) => `${d.name.value}.${f.name.value}`));
}

function rootFields(example: Example): string[] {
  const operation = parse(example.document).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const type = { query: 'Query', mutation: 'Mutation', subscription: 'Subscription' }[operation.operation];
  return operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [`${type}.${s.name.value}`] : []));
}

describe('examples/*.graphql', () => {
  it('are one named operation each, with unique names, covering every public root field', () => {
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const operations = parse(example.document).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      expect({ file: example.file, operations: operations.length }).toEqual({ file: example.file, operations: 1 });
    }
    const names = examples.map((e) => e.operationName);
    expect(new Set(names).size).toBe(names.length);
    const covered = new Set(examples.flatMap(rootFields));
    const missing = publicRootFields().filter((field) => !covered.has(field));
    if (missing.length) throw new Error(`No example uses ${missing.join(', ')}: add one to examples/`);
  });

  it("are all in GraphiQL's default tabs", () => {
    const placed = TAB_PLAN.flatMap((tab) => tab.operations);
    expect([...placed].sort()).toEqual(examples.map((e) => e.operationName).sort());
    const tabs = graphiqlTabs(examples);
    expect(tabs).toHaveLength(TAB_PLAN.length);
    for (const tab of tabs) {
      expect(() => parse(tab.query)).not.toThrow();
      expect(typeof JSON.parse(tab.variables!)).toBe('object');
    }
  });

  describe('run in order against a real system', () => {
    let t: TestSystem;
    const state: Record<string, string> = {};
    let client: Client | undefined;
    let events: Collector<any> | undefined;
    let llmConfigDir: string | undefined;

    beforeAll(async () => {
      // Replies come from the offline provider; an OpenAI-compatible one (never reached) takes users' own keys.
      llmConfigDir = mkdtempSync(join(tmpdir(), 'examples-'));
      const llmConfig = join(llmConfigDir, 'llm.yaml');
      writeFileSync(llmConfig, 'providers:\n  - id: offline\n    kind: offline\n    models: [local-model]\n  - id: openai\n    kind: openai\n    baseUrl: http://127.0.0.1:9/v1\n    models: [gpt-4o-mini]\n');
      t = await startTestSystem('pglite', { OFFLINE_WORD_DELAY_MS: '1', REPLY_FLUSH_INTERVAL_MS: '10', LLM_CONFIG: llmConfig });
    });
    afterAll(async () => {
      events?.stop();
      await client?.dispose();
      await t?.stop();
      if (llmConfigDir) rmSync(llmConfigDir, { recursive: true, force: true });
    });

    let admin: string | undefined;
    /** A user named in the test system's ADMIN_EMAILS (admin@example.com). */
    async function adminToken(): Promise<string> {
      if (admin) return admin;
      admin = (await t.signUpAdmin()).token;
      return admin;
    }

    /** Waits for the end of a reply in the subscription; returns its events. */
    async function replyEnd(replyId: string) {
      const ending = ['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED'];
      const all = await events!.until((es) => es.some((e) => e.messageId === replyId && ending.includes(e.kind)), 20_000);
      const own = all.filter((e) => e.messageId === replyId);
      expect(own.filter((e) => ending.includes(e.kind))).toHaveLength(1);
      return own;
    }

    for (const example of examples) {
      it(`${example.file} (${example.operationName})`, async () => {
        const variables = resolve(example.variables, state, example.file) as Record<string, unknown>;
        if (example.operation === 'subscription') {
          expect(example.operationName).toBe('ConversationEvents'); // the one subscription this test knows how to drive
          client = wsClient(t.gatewayUrl, state.accessToken);
          events = collect(client, example.document, variables, 'conversationEvents');
          await new Promise((r) => setTimeout(r, 300)); // the gateway subscribes to the messages subgraph
          expect(events.errors).toEqual([]);
          return;
        }
        const token = AS_ADMIN.has(example.operationName)
          ? await adminToken()
          : AS_OTHER_USER.has(example.operationName)
            ? (await t.signUp('Elsewhere')).token
            : state.accessToken;
        const result = await t.gql(example.document, variables, token);
        expect(result.errors).toBeUndefined();
        expect(result.status).toBe(200);
        // Every root field answered (a null `character` or `conversation` would mean a wrong id).
        for (const [field, value] of Object.entries(result.data)) expect({ field, value: value ?? null }).not.toEqual({ field, value: null });
        Object.assign(state, CAPTURES[example.operationName]?.(result.data) ?? {});

        if (example.operationName === 'SendMessage' && events) {
          // The subscription saw the reply stream: its deltas, in order, are the final text (a
          // subscriber that joined late gets the text so far as its first delta).
          const own = await replyEnd(state.replyId);
          const completed = own.find((e) => e.kind === 'REPLY_COMPLETED');
          expect(completed).toBeDefined();
          const deltas = own.filter((e) => e.kind === 'REPLY_DELTA');
          expect(deltas.length).toBeGreaterThan(0);
          expect(deltas.map((d) => d.sequence)).toEqual(deltas.map((_, i) => deltas[0].sequence + i));
          expect(deltas.map((d) => d.delta).join('')).toBe(completed.message.content);
          expect(completed.message.content).toContain(String(variables.content));
        }
        if (example.operationName === 'ContinueReply' && events) {
          // The reply streams again: MESSAGE_UPDATED with its text so far, then only the new text, then one end.
          const ending = ['REPLY_COMPLETED', 'REPLY_FAILED', 'REPLY_CANCELLED'];
          const from = (es: any[]) => es.findIndex((e) => e.messageId === state.replyId && e.kind === 'MESSAGE_UPDATED');
          const all = await events.until((es) => from(es) >= 0 && es.slice(from(es)).some((e) => e.messageId === state.replyId && ending.includes(e.kind)), 20_000);
          const own = all.slice(from(all)).filter((e) => e.messageId === state.replyId);
          const end = own.find((e) => ending.includes(e.kind));
          expect(end.kind).toBe('REPLY_COMPLETED');
          expect(own[0].message.content + own.filter((e) => e.kind === 'REPLY_DELTA').map((e) => e.delta).join('')).toBe(end.message.content);
        }
        if (example.operationName === 'EditMessage' && events) await replyEnd(state.replyId);
        if (example.operationName === 'CancelReply' && events) {
          // The regenerated reply, cancelled or already complete, ended exactly once.
          await replyEnd(state.replyId);
          expect(['CANCELLED', 'COMPLETED']).toContain(result.data.cancelReply.status);
        }
      });
    }
  });
});
