import DataLoader from 'dataloader';

/**
 * A per-request DataLoader that fetches many rows by key in one query and hands
 * each key its row (or null), in the order asked.
 */
export function keyedLoader<K, V>(fetchMany: (keys: readonly K[]) => Promise<V[]>, keyOf: (row: V) => K): DataLoader<K, V | null> {
  return new DataLoader<K, V | null>(async (keys) => {
    const rows = await fetchMany(keys);
    const byKey = new Map(rows.map((row) => [keyOf(row), row]));
    return keys.map((key) => byKey.get(key) ?? null);
  });
}

/** Like keyedLoader, for one-to-many: each key gets every row whose group is that key. */
export function groupedLoader<K, V>(fetchMany: (keys: readonly K[]) => Promise<V[]>, groupOf: (row: V) => K): DataLoader<K, V[]> {
  return new DataLoader<K, V[]>(async (keys) => {
    const rows = await fetchMany(keys);
    const groups = new Map<K, V[]>(keys.map((key) => [key, []]));
    for (const row of rows) groups.get(groupOf(row))?.push(row);
    return keys.map((key) => groups.get(key) ?? []);
  });
}
