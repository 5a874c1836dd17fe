/** `url` without its user name and password: how engine URLs appear in logs and errors. */
export function urlShown(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'an unparsable URL';
  }
}
