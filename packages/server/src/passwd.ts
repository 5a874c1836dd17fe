import { hashPassword } from './auth/passwords.js';

export const PASSWD_HELP = `Usage: pulse passwd [--password PASSWORD]

Prints the scrypt hash of a password, for the password_hash of an [[auth.users]] table:

  [[auth.users]]
  username = "alice"
  password_hash = "<the line printed>"

The password is read from standard input (a pipe works: echo -n secret | pulse passwd; one
trailing newline is dropped), or given with --password (visible in the process list and the
shell history: prefer standard input).`;

/** Everything the stream has, as text (stops at the first line when it is a terminal). */
function readInput(stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const interactive = stdin.isTTY === true;
    const onData = (chunk: Buffer | string) => {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      if (interactive && Buffer.concat(chunks).includes(10)) done();
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.off('end', done);
      stdin.off('error', reject);
      stdin.pause();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    stdin.on('data', onData);
    stdin.once('end', done);
    stdin.once('error', reject);
  });
}

/**
 * `pulse passwd`: 0 with the hash line on stdout; 2 on a usage error (one line on stderr).
 * Dispatched by the CLI before any configuration is read.
 */
export async function runPasswd(
  args: readonly string[],
  io: { stdin: NodeJS.ReadStream; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  let password: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') {
      io.stdout.write(`${PASSWD_HELP}\n`);
      return 0;
    }
    if (arg === '--password' && i + 1 < args.length) password = args[++i];
    else if (arg.startsWith('--password=')) password = arg.slice('--password='.length);
    else {
      io.stderr.write(`pulse passwd: unexpected argument ${JSON.stringify(arg)} (see pulse passwd --help)\n`);
      return 2;
    }
  }
  if (password === undefined) {
    if (io.stdin.isTTY) io.stderr.write('Password: ');
    password = (await readInput(io.stdin)).replace(/\r?\n$/, '');
  }
  if (password.length === 0) {
    io.stderr.write('pulse passwd: empty password\n');
    return 2;
  }
  io.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
