/** Measures a value's JSON without writing it: what the gateway's response-size limit counts. */

/** UTF-8 bytes of `null`, which JSON writes for values it cannot (undefined, functions, NaN) in an array. */
const NULL_BYTES = 4;

/** UTF-8 bytes of a string as JSON writes it (quotes and escapes included). */
function stringBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8');
}

/** Whether JSON leaves this object property out. */
function omitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

/**
 * The UTF-8 bytes of `JSON.stringify(value)`, counted without building it; the count stops as
 * soon as it passes `stopAbove` (the result is then some number above it), so measuring a huge
 * value against a bound costs no more than the bound.
 */
export function jsonByteLength(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let total = 0;
  // Adds `item` as JSON writes it; false once the count is over the bound.
  const visit = (item: unknown): boolean => {
    if (item !== null && typeof item === 'object' && typeof (item as { toJSON?: unknown }).toJSON === 'function') {
      item = (item as { toJSON(): unknown }).toJSON();
    }
    if (typeof item === 'string') total += stringBytes(item);
    else if (typeof item === 'number') total += Number.isFinite(item) ? String(item).length : NULL_BYTES;
    else if (typeof item === 'boolean') total += item ? 4 : 5;
    else if (typeof item === 'bigint') total += String(item).length;
    else if (item === null || typeof item !== 'object') total += NULL_BYTES;
    else if (Array.isArray(item)) {
      total += 2;
      for (let i = 0; i < item.length; i += 1) {
        if (i > 0) total += 1;
        if (!visit(item[i])) return false;
      }
    } else {
      total += 2;
      let first = true;
      for (const key of Object.keys(item)) {
        const property = (item as Record<string, unknown>)[key];
        if (omitted(property)) continue;
        total += stringBytes(key) + (first ? 1 : 2);
        first = false;
        if (!visit(property)) return false;
      }
    }
    return total <= stopAbove;
  };
  visit(value);
  return total;
}
