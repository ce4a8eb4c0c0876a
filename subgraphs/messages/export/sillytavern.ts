/**
 * SillyTavern's chat file (JSONL): a header line (user_name, character_name, create_date, chat_metadata), then one line
 * per message of the active path (name, is_user, is_system, send_date, mes), a message with alternatives carrying them
 * all as swipes (swipe_id the one on the path, swipe_info their dates and models). Branches below an alternative that is
 * not on the path have no place in it and are left out.
 */
import type { MessageRow } from '../store';
import { badFile, messageText, optionalLabel, plainMessage, refuseTooMany, type ChatNames, type ImportedChat, type ImportedMessage } from './chat-file';

/** One message line as SillyTavern writes it (the fields we write and read; others are ignored). */
interface SillyTavernLine {
  name: string;
  is_user: boolean;
  is_system: boolean;
  send_date: string;
  mes: string;
  extra?: { model?: string; api?: string };
  swipes?: string[];
  swipe_id?: number;
  swipe_info?: Array<{ send_date: string; extra: { model?: string; api?: string } }>;
}

// SillyTavern's own send_date: 'January 22, 2024 4:13am' (the user's local time, taken as UTC here).
const HUMAN_DATE = /^([A-Za-z]+ \d{1,2}, \d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))? ?(am|pm)$/i;

/**
 * A send_date as SillyTavern versions write it (epoch ms, ISO, or its human form); `fallback` for one it cannot read,
 * since a date is no reason to refuse a chat.
 */
export function sillyTavernDate(value: unknown, fallback: Date): Date {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value < 253_402_300_800_000) return new Date(value);
  if (typeof value !== 'string') return fallback;
  const human = HUMAN_DATE.exec(value.trim());
  if (human) {
    const [, day, hours, minutes, seconds, half] = human;
    const hour = (Number(hours) % 12) + (half.toLowerCase() === 'pm' ? 12 : 0);
    const time = Date.parse(`${day} 00:00:00 UTC`) + ((hour * 60 + Number(minutes)) * 60 + Number(seconds ?? 0)) * 1000;
    return Number.isNaN(time) ? fallback : new Date(time);
  }
  const time = Date.parse(value);
  return Number.isNaN(time) || time < 0 || time >= 253_402_300_800_000 ? fallback : new Date(time);
}

/** A message's model and provider as SillyTavern's `extra` names them. */
const extraOf = (m: MessageRow) => ({ ...(m.model ? { model: m.model } : {}), ...(m.provider ? { api: m.provider } : {}) });

/**
 * The active path as a SillyTavern chat file; `alternativesOf` gives each path message's alternatives (itself among
 * them), oldest first.
 */
export function toSillyTavern(names: ChatNames, path: readonly MessageRow[], alternativesOf: (m: MessageRow) => MessageRow[]): string {
  const header = { user_name: names.user, character_name: names.character, create_date: (path[0]?.created_at ?? new Date()).toISOString(), chat_metadata: {} };
  const lines = path.map((m): SillyTavernLine => {
    const line: SillyTavernLine = {
      name: m.role === 'USER' ? names.user : m.role === 'SYSTEM' ? 'System' : names.character,
      is_user: m.role === 'USER',
      is_system: m.role === 'SYSTEM',
      send_date: m.created_at.toISOString(),
      mes: m.content,
      extra: extraOf(m),
    };
    const alternatives = alternativesOf(m);
    if (alternatives.length > 1) {
      line.swipes = alternatives.map((a) => a.content);
      line.swipe_id = alternatives.findIndex((a) => a.id === m.id);
      line.swipe_info = alternatives.map((a) => ({ send_date: a.created_at.toISOString(), extra: extraOf(a) }));
    }
    return line;
  });
  return [header, ...lines].map((line) => JSON.stringify(line)).join('\n') + '\n';
}

/** A SillyTavern chat file read back: BAD_USER_INPUT naming the line at fault. Blank lines are skipped. */
export function fromSillyTavern(content: string): ImportedChat {
  const lines = content.split(/\r?\n/);
  const messages: ImportedMessage[] = [];
  let parent: number | null = null;
  let sawHeader = false;
  const now = new Date();
  for (const [i, text] of lines.entries()) {
    const where = `line ${i + 1}`;
    if (text.trim() === '') continue;
    let line: unknown;
    try {
      line = JSON.parse(text);
    } catch {
      throw badFile(where, 'not valid JSON');
    }
    if (typeof line !== 'object' || line === null || Array.isArray(line)) throw badFile(where, 'expected a JSON object');
    const record = line as Record<string, unknown>;
    if (!sawHeader) {
      if ('mes' in record || !('chat_metadata' in record || 'user_name' in record || 'character_name' in record)) {
        throw badFile(where, "expected SillyTavern's header line (user_name, character_name, create_date, chat_metadata)");
      }
      sawHeader = true;
      continue;
    }
    if (typeof record.is_user !== 'boolean') throw badFile(where, 'is_user must be true or false');
    const role: MessageRow['role'] = record.is_user ? 'USER' : record.is_system === true ? 'SYSTEM' : 'ASSISTANT';
    const mes = messageText(where, record.mes);
    const sent = sillyTavernDate(record.send_date, messages.at(-1)?.createdAt ?? now);
    const model = optionalLabel(`${where} extra.model`, (record.extra as Record<string, unknown> | undefined)?.model);
    const api = optionalLabel(`${where} extra.api`, (record.extra as Record<string, unknown> | undefined)?.api);
    const swipes = record.swipes;
    if (swipes === undefined || swipes === null || (Array.isArray(swipes) && swipes.length <= 1)) {
      refuseTooMany(messages.length + 1);
      messages.push({ ...plainMessage(parent, role, mes, sent), model, provider: api });
      parent = messages.length - 1;
      continue;
    }
    if (!Array.isArray(swipes)) throw badFile(where, 'swipes must be an array of texts');
    const chosen = record.swipe_id ?? 0;
    if (typeof chosen !== 'number' || !Number.isInteger(chosen) || chosen < 0 || chosen >= swipes.length) throw badFile(where, `swipe_id must be an index of swipes (0 to ${swipes.length - 1})`);
    refuseTooMany(messages.length + swipes.length);
    const info = Array.isArray(record.swipe_info) ? record.swipe_info : [];
    const first = messages.length;
    swipes.forEach((swipe, s) => {
      const swipeInfo = (info[s] ?? {}) as Record<string, any>;
      // The one on the path is `mes` (SillyTavern keeps the two the same).
      const text = s === chosen ? mes : messageText(`${where} swipes[${s}]`, swipe);
      const at = s === chosen ? sent : sillyTavernDate(swipeInfo.send_date, sent);
      const swipeModel = s === chosen ? model : optionalLabel(`${where} swipe_info[${s}].extra.model`, swipeInfo.extra?.model);
      const swipeApi = s === chosen ? api : optionalLabel(`${where} swipe_info[${s}].extra.api`, swipeInfo.extra?.api);
      messages.push({ ...plainMessage(parent, role, text, at), model: swipeModel, provider: swipeApi });
    });
    if (parent !== null) messages[parent].activeChild = first + chosen;
    parent = first + chosen;
  }
  if (!sawHeader) throw badFile('line 1', "expected SillyTavern's header line (user_name, character_name, create_date, chat_metadata)");
  if (parent === null) throw badFile('content', 'the file has no messages');
  return { messages, leaf: parent };
}
