/**
 * Makes an existing account an admin: `tsx scripts/make-admin.ts <email>` (`npm run make-admin -- <email>`).
 *
 * ADMIN_EMAILS only bootstraps the first admin (the first registration of such an address while
 * there is none); every later admin is made here, by someone with access to the deployment's
 * configuration and database. It reads the same environment as the services (DATABASE_URL, or
 * DATA_DIR for embedded storage: stop the system first, as an embedded database belongs to one
 * process). The account's next sign-in or session refresh carries the new role.
 */
import { loadConfig } from '@chat/shared/config';
import { openDatabase } from '@chat/shared/db';
import { email } from '@chat/shared/validate';
import { migrations, UsersStore, type UsersTables } from '../subgraphs/users/store';

/** Exit codes: done, no such account, bad usage. */
const EXIT = { ok: 0, unknownAccount: 1, usage: 2 } as const;

/** The normalised email from the command line, or undefined when it is missing or malformed. */
function emailArgument(args: string[]): string | undefined {
  if (args.length !== 1) return undefined;
  try {
    return email('email', args[0]!);
  } catch {
    return undefined;
  }
}

const address = emailArgument(process.argv.slice(2));
if (!address) {
  console.error('usage: npm run make-admin -- <email of an existing account>');
  process.exit(EXIT.usage);
}
const database = await openDatabase<UsersTables>({ name: 'users', config: loadConfig(), migrations });
try {
  const user = await new UsersStore(database).setRole(address, 'ADMIN');
  if (!user) {
    console.error(`No account with the email ${address}; it must register first.`);
    process.exitCode = EXIT.unknownAccount;
  } else {
    console.log(`${user.email} is now an admin.`);
  }
} finally {
  await database.close();
}
