import { hashPassword } from './auth/passwords.js';

export const PASSWD_HELP = `Usage: pulse passwd [--password PASSWORD]

Prints the scrypt hash of a password, for the password_hash of an [[auth.users]] table:

  [[auth.users]]
  username = "alice"
  password_hash = "<the line printed>"

The password is read from standard input: typed on a terminal, it is not shown; a pipe works
too (echo -n secret | pulse passwd; one trailing newline is dropped). It may also be given
with --password (visible in the process list and the shell history: prefer standard input).`;

/** Typed on a terminal without echo: one line; Ctrl-C or Ctrl-D on an empty line gives up (undefined). */
function readHidden(stdin: NodeJS.ReadStream): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let typed = '';
    const wasRaw = stdin.isRaw === true;
    stdin.setRawMode(true);
    const finish = (value: string | undefined, err?: unknown) => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const onEnd = () => finish(typed);
    const onError = (err: unknown) => finish(undefined, err);
    const onData = (chunk: Buffer | string) => {
      for (const ch of Buffer.isBuffer(chunk) ? chunk.toString('utf8') : chunk) {
        if (ch === '\r' || ch === '\n') return finish(typed);
        if (ch === '\u0003') return finish(undefined); // Ctrl-C
        if (ch === '\u0004') {
          if (typed === '') return finish(undefined); // Ctrl-D
          continue;
        }
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch === '\u0015')
          typed = ''; // Ctrl-U
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    stdin.resume();
  });
}

/** Everything the stream has, as text (a pipe or a file; a terminal is read by readHidden). */
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
    const arg = args[i] as string; // i < args.length
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
    if (io.stdin.isTTY && typeof io.stdin.setRawMode === 'function') {
      io.stderr.write('Password: ');
      const typed = await readHidden(io.stdin);
      io.stderr.write('\n');
      if (typed === undefined) {
        io.stderr.write('pulse passwd: cancelled\n');
        return 130;
      }
      password = typed;
    } else {
      password = (await readInput(io.stdin)).replace(/\r?\n$/, '');
    }
  }
  if (password.length === 0) {
    io.stderr.write('pulse passwd: empty password\n');
    return 2;
  }
  io.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
