/**
 * Users' own API keys for LLM providers, one per user and provider, kept encrypted (AES-256-GCM
 * under SECRETS_KEY, packages/shared/src/secrets.ts) and bound to their user and provider by the
 * cipher's authenticated data: a sealed key copied into another row does not open. Only the last
 * four characters are kept in clear, to show which key it is.
 */
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { openSecret, sealSecret } from '@chat/shared/secrets';

/** A key as stored. */
export interface ProviderKeyRow {
  user_id: string;
  provider: string;
  sealed_key: string;
  last4: string;
  created_at: Date;
}

/** What the API shows of a key: never the key. */
export type ProviderKeyInfo = Pick<ProviderKeyRow, 'provider' | 'last4' | 'created_at'>;

export interface ProviderKeyTables {
  provider_keys: ProviderKeyRow;
}

/** Characters of a key shown in clear. */
export const KEY_SHOWN_CHARS = 4;

export const providerKeyMigrations: Record<string, Migration> = {
  '400_provider_keys': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('provider_keys')
        .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('sealed_key', 'text', (c) => c.notNull())
        .addColumn('last4', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('provider_keys_pk', ['user_id', 'provider'])
        .execute();
    },
  },
};

/** The authenticated data a key is sealed with: the row it belongs to. */
const boundTo = (userId: string, provider: string) => `provider-key\n${userId}\n${provider}`;

/** Reads and writes users' provider keys; `db` is the users subgraph's database, `secretsKey` SECRETS_KEY. */
export class ProviderKeyStore {
  private readonly db: Kysely<ProviderKeyTables>;

  constructor(
    db: Kysely<any>,
    private readonly secretsKey: Buffer,
  ) {
    this.db = db;
  }

  /** Stores (or replaces) the user's key for `provider`, sealed; answers what may be shown of it. */
  async set(userId: string, provider: string, apiKey: string): Promise<ProviderKeyInfo> {
    const row: ProviderKeyRow = {
      user_id: userId,
      provider,
      sealed_key: sealSecret(this.secretsKey, apiKey, boundTo(userId, provider)),
      last4: apiKey.slice(-KEY_SHOWN_CHARS),
      created_at: new Date(),
    };
    await this.db
      .insertInto('provider_keys')
      .values(row)
      .onConflict((oc) => oc.columns(['user_id', 'provider']).doUpdateSet({ sealed_key: row.sealed_key, last4: row.last4, created_at: row.created_at }))
      .execute();
    return { provider, last4: row.last4, created_at: row.created_at };
  }

  /** Deletes the user's key for `provider`; false when there was none. */
  async delete(userId: string, provider: string): Promise<boolean> {
    const result = await this.db.deleteFrom('provider_keys').where('user_id', '=', userId).where('provider', '=', provider).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** The user's keys (what may be shown of them), by provider id. */
  list(userId: string): Promise<ProviderKeyInfo[]> {
    return this.db.selectFrom('provider_keys').select(['provider', 'last4', 'created_at']).where('user_id', '=', userId).orderBy('provider').execute();
  }

  /**
   * The user's key for `provider`, decrypted; undefined when they have none, or when it does not
   * open (SECRETS_KEY changed, or the row was tampered with): they must set it again.
   */
  async reveal(userId: string, provider: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('provider_keys').select('sealed_key').where('user_id', '=', userId).where('provider', '=', provider).executeTakeFirst();
    return row ? openSecret(this.secretsKey, row.sealed_key, boundTo(userId, provider)) : undefined;
  }
}
