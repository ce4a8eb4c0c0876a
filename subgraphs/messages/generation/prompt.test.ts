/** A running summary is reused only on the branch it summarises. */
import { describe, expect, it } from '@jest/globals';
import type { SummaryRow } from '../store';
import { summaryOnPath } from './prompt';

const saved = (coversThrough: string | null, covered: number): SummaryRow => ({
  conversation_id: 'c',
  summary: 'What happened.',
  covered_messages: covered,
  covers_through: coversThrough,
  updated_at: new Date(),
});
const path = (...ids: string[]) => ids.map((id) => ({ id }));

describe('summaryOnPath', () => {
  it('reuses a summary whose last message is on the path, where it covered it', () => {
    expect(summaryOnPath(saved('b', 2), path('a', 'b', 'c', 'd'))).toEqual({ summary: 'What happened.', covered: 2 });
  });

  it('ignores a summary of another branch: its last message is not on this path', () => {
    expect(summaryOnPath(saved('x', 2), path('a', 'b', 'c', 'd'))).toBeUndefined();
  });

  it('ignores a summary whose place on the path moved, and one from before branches were remembered', () => {
    expect(summaryOnPath(saved('b', 3), path('a', 'b', 'c'))).toBeUndefined();
    expect(summaryOnPath(saved(null, 2), path('a', 'b', 'c'))).toBeUndefined();
    expect(summaryOnPath(undefined, path('a'))).toBeUndefined();
  });
});
