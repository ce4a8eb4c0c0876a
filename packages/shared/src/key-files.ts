/**
 * Keys generated for development and kept under DATA_DIR/keys, so that processes started from one
 * DATA_DIR (at once, or one after another) share them.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The folder of generated keys under a DATA_DIR. */
export const KEYS_FOLDER = 'keys';

/**
 * The content of DATA_DIR/keys/`name`, made by `create` when the file does not exist yet. Processes
 * starting at once must end up with one key: each writes its own beside the file, then links it
 * into place, which fails for all but the first; every one reads what is there.
 */
export function generatedOnce(dataDir: string, name: string, create: () => string): string {
  const dir = join(dataDir, KEYS_FOLDER);
  const file = join(dir, name);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const draft = `${file}.${randomUUID()}`;
    writeFileSync(draft, create(), { mode: 0o600 });
    try {
      linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(draft, { force: true });
    }
  }
  return readFileSync(file, 'utf8');
}
