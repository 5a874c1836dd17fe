import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../json/json-messages.js';
import { ApiError } from './api-error.js';

/**
 * `content-type` must be `application/json` (parameters allowed; a charset, if given, must be
 * UTF-8, the only encoding JSON has: RFC 8259 §8.1).
 */
function checkContentType(header: string | undefined): void {
  const [type = '', ...params] = (header ?? '').split(';'); // split gives at least one part
  if (type.trim().toLowerCase() !== 'application/json') {
    throw new ApiError(415, 'content-type must be application/json');
  }
  for (const param of params) {
    const [name = '', value = ''] = param.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new ApiError(415, `charset ${charset} is not supported: JSON bodies are UTF-8`);
    }
  }
}

const tooLarge = (max: number) => new ApiError(413, `request body exceeds ${max} bytes`);

/**
 * Reads a request body of at most `maxBytes`. Past that it stops reading at once (the
 * connection is closed after the 413), so a client can never make the server hold more.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err: ApiError | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      req.pause();
      chunks.length = 0;
      settle(tooLarge(maxBytes));
    };
    const onEnd = (): void => settle(undefined);
    // The client went away (or the socket failed) before the end of its body.
    const onGone = (): void => settle(new ApiError(400, 'request body was cut short'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/**
 * The request's JSON body: 415 without `application/json`, 413 past `maxBytes`, 400 when it is
 * not UTF-8, nests deeper than the JSON protocol allows, or does not parse.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  checkContentType(req.headers['content-type']);
  const bytes = await readBody(req, maxBytes);
  if (bytes.length === 0) throw new ApiError(400, 'request body is empty: a JSON object is expected');
  if (!isUtf8(bytes)) throw new ApiError(400, 'request body is not valid UTF-8');
  if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) {
    throw new ApiError(400, `request body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
