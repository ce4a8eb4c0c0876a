/**
 * Checks that imported JSON has the shape a specification gives it, field by field, before anything
 * is stored. Every refusal is BAD_USER_INPUT on the `file` argument, naming the path inside the file
 * (`file: data.alternate_greetings[3]: must be a string`).
 */
import type { GraphQLError } from 'graphql';
import { badInput } from '@chat/shared/errors';
import { INT4 } from '@chat/shared/validate';

/** The argument an imported file arrives in; errors about its content name it first. */
export const FILE_FIELD = 'file';

/** A refusal of the imported file, naming the path inside it. */
export const fileError = (path: string, why: string): GraphQLError => badInput(FILE_FIELD, path ? `${path}: ${why}` : why);

/** A JSON object (not an array, not null). */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value` as an object, or a refusal naming `path`. */
export function object(value: unknown, path: string): JsonObject {
  if (!isObject(value)) throw fileError(path, 'must be an object');
  return value;
}

const at = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** A string field; absent (or null) is `fallback`, or a refusal when there is none. */
export function string(obj: JsonObject, key: string, path: string, fallback?: string): string {
  const value = obj[key];
  if (value == null) {
    if (fallback === undefined) throw fileError(at(path, key), 'is required');
    return fallback;
  }
  if (typeof value !== 'string') throw fileError(at(path, key), 'must be a string');
  return value;
}

/** An optional string field: undefined when absent. */
export function optionalString(obj: JsonObject, key: string, path: string): string | undefined {
  return obj[key] == null ? undefined : string(obj, key, path);
}

/** An array of strings; absent is `fallback` (or a refusal when there is none). */
export function strings(obj: JsonObject, key: string, path: string, fallback?: string[]): string[] {
  const value = obj[key];
  if (value == null) {
    if (fallback === undefined) throw fileError(at(path, key), 'is required');
    return fallback;
  }
  if (!Array.isArray(value)) throw fileError(at(path, key), 'must be an array of strings');
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw fileError(`${at(path, key)}[${i}]`, 'must be a string');
  });
  return value as string[];
}

/** A boolean field; absent is `fallback`. */
export function boolean(obj: JsonObject, key: string, path: string, fallback: boolean): boolean;
export function boolean(obj: JsonObject, key: string, path: string, fallback?: undefined): boolean | undefined;
export function boolean(obj: JsonObject, key: string, path: string, fallback?: boolean): boolean | undefined {
  const value = obj[key];
  if (value == null) return fallback;
  if (typeof value !== 'boolean') throw fileError(at(path, key), 'must be true or false');
  return value;
}

/**
 * A number field, as a whole number within int4 (the specs say "number"; the API's Int is 32-bit):
 * fractions are rounded, beyond the bounds clamped. Absent is `fallback`.
 */
export function number(obj: JsonObject, key: string, path: string, fallback: number): number;
export function number(obj: JsonObject, key: string, path: string, fallback?: undefined): number | undefined;
export function number(obj: JsonObject, key: string, path: string, fallback?: number): number | undefined {
  const value = obj[key];
  if (value == null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw fileError(at(path, key), 'must be a number');
  return Math.min(INT4.max, Math.max(INT4.min, Math.round(value)));
}

/** An object field (e.g. `extensions`); absent is an empty object, as the specs default it. */
export function record(obj: JsonObject, key: string, path: string): JsonObject {
  const value = obj[key];
  if (value == null) return {};
  return object(value, at(path, key));
}

/** The keys of `obj` not in `known`, with their values: what a card carries that we keep without modelling. */
export function rest(obj: JsonObject, known: readonly string[]): JsonObject {
  return Object.fromEntries(Object.entries(obj).filter(([key]) => !known.includes(key)));
}

/** How deeply nested kept JSON (extensions, unknown fields) may be: enough for any card, and a bound for the walks over it. */
export const MAX_JSON_DEPTH = 64;

/**
 * JSON kept as it came (extensions, unknown fields), made storable: PostgreSQL refuses NUL in
 * jsonb strings, so NULs are dropped from strings and keys; nesting beyond MAX_JSON_DEPTH is refused.
 */
export function storable(value: unknown, path: string, depth = 0): unknown {
  if (depth > MAX_JSON_DEPTH) throw fileError(path, `is nested more than ${MAX_JSON_DEPTH} levels deep`);
  if (typeof value === 'string') return value.replaceAll('\u0000', '');
  if (Array.isArray(value)) return value.map((item, i) => storable(item, `${path}[${i}]`, depth + 1));
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.replaceAll('\u0000', ''), storable(item, at(path, key), depth + 1)]));
  }
  return value;
}

/** An object of kept JSON, made storable (see `storable`). */
export const storableObject = (value: JsonObject, path: string): JsonObject => storable(value, path) as JsonObject;
