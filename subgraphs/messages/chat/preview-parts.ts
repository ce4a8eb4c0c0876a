/** The parts promptPreview lists: each message of the prompt, and after the system message the pieces of it shown apart. */
import type { BuiltPrompt } from '../llm';

/** One PromptPart as the schema gives it. */
export interface PreviewPart {
  kind: string;
  role: string;
  content: string;
  tokens: number;
  activatedBy: string | null;
}

/** Every message as a part, with the persona and each active lorebook entry (and its key) right after the system message. */
export function previewParts(prompt: Pick<BuiltPrompt, 'messages' | 'parts' | 'sections'>): PreviewPart[] {
  return prompt.parts.flatMap((part, i) => {
    const message: PreviewPart = { kind: part.kind, role: part.role, tokens: part.tokens, content: prompt.messages[i].content, activatedBy: null };
    if (part.kind !== 'system') return [message];
    const sections = prompt.sections.map((section) => ({ kind: section.kind, role: 'system', tokens: section.tokens, content: section.content, activatedBy: section.kind === 'lorebook' ? section.activatedBy : null }));
    return [message, ...sections];
  });
}
