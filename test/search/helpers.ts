/** Shared helpers of the search, export and analytics suites: exchanges that must end, and results as plain data. */
import { sendOk, waitForEnd, type Chat } from '../chat/helpers';
import type { FakeLlmServer } from '../support/fake-llm';
import type { GqlResponse, TestSystem } from '../support/system';

/** The root field's data, or a failure naming the errors. */
export async function ok(t: TestSystem, query: string, variables: Record<string, unknown>, token: string): Promise<any> {
  const res = await t.gql(query, variables, token);
  if (res.errors || !res.data) throw new Error(`${query.slice(0, 80)}: ${JSON.stringify(res.errors)}`);
  return Object.values(res.data)[0];
}

/** Sends `content`, the fake LLM answering `reply`; waits until the reply has ended and returns both. */
export async function exchange(t: TestSystem, llm: FakeLlmServer, chat: Chat, content: string, reply: string): Promise<{ message: any; reply: any }> {
  llm.script({ tokens: [reply] });
  const sent = await sendOk(t, chat.user.token, chat.conversationId, content);
  return { message: sent.message, reply: await waitForEnd(t, chat.user.token, sent.reply.id, 30_000) };
}

/** The first error's extensions.code. */
export const codeOf = (res: GqlResponse) => res.errors?.[0]?.extensions?.code;
