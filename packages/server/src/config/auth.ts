import { oneOf, str } from './kinds.js';
import type { TableArray } from './table-array.js';

/**
 * One `[[auth.users]]` table: an MQTT username with its password, as a scrypt hash
 * (`scrypt$...`, from `pulse passwd`) or in plain text (allowed; the server warns at start-up).
 * Exactly one of the two is set; the other is `''`.
 */
export interface AuthUserConfig {
  username: string;
  password_hash: string;
  password: string;
}

export const ACL_ACTIONS = ['publish', 'subscribe', 'all'] as const;
export type AclAction = (typeof ACL_ACTIONS)[number];

/**
 * One `[[auth.acl]]` table: `username` (`"*"` = everyone) may `action` on the topics
 * `topic_filter` matches (MQTT wildcards; `%u` is the username, `%c` the client id).
 * Default-deny when auth is enabled.
 */
export interface AclRuleConfig {
  username: string;
  action: AclAction;
  topic_filter: string;
}

export const PASSWORD_HASH_PREFIX = 'scrypt$';

export const AUTH_USERS_TABLES: TableArray<AuthUserConfig> = {
  path: 'auth.users',
  fields: {
    username: str('', 'MQTT username', { nonEmpty: true }),
    password_hash: str('', 'scrypt hash of the password (scrypt$..., from `pulse passwd`)', {
      nonEmpty: true,
      secret: true,
      rules: [
        {
          test: (v) => v.startsWith(PASSWORD_HASH_PREFIX),
          message: `must be a scrypt hash starting with "${PASSWORD_HASH_PREFIX}" (from \`pulse passwd\`)`,
        },
      ],
    }),
    password: str('', 'password in plain text (the server warns at start-up)', {
      nonEmpty: true,
      secret: true,
    }),
  },
  required: { username: 'the MQTT username' },
  check: (user, earlier) => {
    if ((user.password_hash === '') === (user.password === '')) {
      return { message: 'must set exactly one of password_hash and password' };
    }
    const first = earlier.findIndex((u) => u.username === user.username);
    if (first !== -1) {
      return {
        key: 'username',
        message: `${JSON.stringify(user.username)} is already used by auth.users[${first}]`,
      };
    }
    return undefined;
  },
};

export const AUTH_ACL_TABLES: TableArray<AclRuleConfig> = {
  path: 'auth.acl',
  fields: {
    username: str('', 'the user this rule is for ("*" = everyone)', { nonEmpty: true }),
    action: oneOf(ACL_ACTIONS, 'all', 'what the rule allows: publish, subscribe or all'),
    topic_filter: str('', 'the topics: an MQTT filter; %u = the username, %c = the client id', {
      nonEmpty: true,
      rules: [
        {
          test: (f) => topicFilterProblem(f) === undefined,
          message: (f) => topicFilterProblem(f) ?? '',
        },
      ],
    }),
  },
  required: {
    username: 'the user the rule is for, or "*" for everyone',
    action: 'publish, subscribe or all',
    topic_filter: 'the topics the rule covers',
  },
};

/** Why `filter` breaks the MQTT wildcard rules, completing "<key> ...", or undefined. */
function topicFilterProblem(filter: string): string | undefined {
  const levels = filter.split('/');
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && level !== '#') return 'may use "#" only as a whole level';
    if (level === '#' && i !== levels.length - 1) return 'may use "#" only as its last level';
    if (level.includes('+') && level !== '+') return 'may use "+" only as a whole level';
  }
  return undefined;
}
