import { z } from 'zod';
import { ApiError } from './api-error.js';

/** Most channels one `POST /api/broadcast` may name. */
export const MAX_BROADCAST_CHANNELS = 1000;
/** Longest `event` name accepted. */
export const MAX_EVENT_LENGTH = 256;

const must = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`),
});

const string = z.string(must('a string'));
/** Any JSON value; `null` included, absent not. */
const data = z.unknown();
/** Optional; `null` is the same as absent (as in the native protocol). */
const event = z
  .string(must('a string'))
  .max(MAX_EVENT_LENGTH, { error: `must be at most ${MAX_EVENT_LENGTH} characters` })
  .nullish()
  .transform((value) => value ?? undefined);

export const publishBody = z.object({ channel: string, data, event }, must('a JSON object'));

export const broadcastBody = z.object(
  {
    channels: z
      .array(string, must('an array of channel names'))
      .min(1, { error: 'must name at least one channel' })
      .max(MAX_BROADCAST_CHANNELS, { error: `must name at most ${MAX_BROADCAST_CHANNELS} channels` }),
    data,
    event,
  },
  must('a JSON object'),
);

export const disconnectBody = z.object(
  {
    connection_id: string.min(1, { error: 'must not be empty' }).optional(),
    client_id: string.min(1, { error: 'must not be empty' }).optional(),
    user: string.min(1, { error: 'must not be empty' }).optional(),
  },
  must('a JSON object'),
);

/** `channels[3]`, `data`, or the body itself. */
function fieldName(path: readonly PropertyKey[]): string {
  let name = '';
  for (const key of path)
    name += typeof key === 'number' ? `[${key}]` : name ? `.${String(key)}` : String(key);
  return name;
}

/** One readable line per problem, naming the field: `"channel" is required; "event" must be a string`. */
function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      // z.unknown() fields (data) report a missing value as "nonoptional".
      const message =
        issue.code === 'invalid_type' && issue.expected === 'nonoptional' ? 'is required' : issue.message;
      return issue.path.length === 0 ? `request body ${message}` : `"${fieldName(issue.path)}" ${message}`;
    })
    .join('; ');
}

/** The body checked against `schema`, or 400 naming what is wrong. */
export function validate<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new ApiError(400, describe(result.error));
  return result.data;
}

const BODIES = { publish: publishBody, broadcast: broadcastBody, disconnect: disconnectBody };
export type BodyName = keyof typeof BODIES;
export type Body<K extends BodyName> = z.output<(typeof BODIES)[K]>;

/** The body of a `POST /api/<name>` checked, or 400 naming what is wrong. */
export function checkBody<K extends BodyName>(name: K, body: unknown): Body<K> {
  return validate(BODIES[name] as z.ZodType, body) as Body<K>;
}
