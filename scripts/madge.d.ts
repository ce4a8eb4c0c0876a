/** The part of madge 8's programmatic API scripts/import-cycles.ts uses (the package ships no types). */
declare module 'madge' {
  export interface MadgeConfig {
    baseDir?: string;
    fileExtensions?: string[];
    excludeRegExp?: Array<string | RegExp>;
    /** A tsconfig file, or its content (then `compilerOptions` as in JSON, with an absolute `baseUrl`). */
    tsConfig?: string | { compilerOptions: Record<string, unknown> };
    /** Per file type options of precinct's detectives (`ts`: `skipTypeImports`, `skipAsyncImports`). */
    detectiveOptions?: Record<string, Record<string, unknown>>;
  }

  export interface MadgeResult {
    /** Each module (relative to baseDir) and the modules it imports. */
    obj(): Record<string, string[]>;
    /** Each cycle, as the modules along it. */
    circular(): string[][];
    /** Imports that resolved to no file. */
    warnings(): { skipped: string[] };
  }

  function madge(paths: string | string[], config?: MadgeConfig): Promise<MadgeResult>;
  export default madge;
}
