/** Types of the PNG chunk packages, which ship none (their READMEs describe these signatures). */

declare module 'png-chunks-extract' {
  /** The chunks of a PNG, in order; throws on a bad signature, a missing IHDR or IEND, or a CRC mismatch. */
  export default function extractChunks(data: Uint8Array): Array<{ name: string; data: Uint8Array }>;
}

declare module 'png-chunks-encode' {
  /** A PNG from chunks (signature, lengths and CRCs written). */
  export default function encodeChunks(chunks: ReadonlyArray<{ name: string; data: Uint8Array }>): Uint8Array;
}

declare module 'png-chunk-text' {
  /** A tEXt chunk (its name and data) from a keyword and Latin-1 text. */
  export function encode(keyword: string, text: string): { name: string; data: Uint8Array };
  /** A tEXt chunk's keyword and text (from the chunk or its data). */
  export function decode(data: Uint8Array | { name: string; data: Uint8Array }): { keyword: string; text: string };
  const text: { encode: typeof encode; decode: typeof decode };
  export default text;
}
