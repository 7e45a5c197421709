// One word for a POSIX shell, for the command lines faultline prints (repeat commands) and
// writes into manifests (sweep --emit).

/** Words a POSIX shell reads as themselves (Python's shlex.quote keeps the same set bare). */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Bare when it is plain, else in single quotes, which take everything literally but a quote,
 * spliced in as '\''.
 */
export function shellQuote(word: string): string {
  return SHELL_SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
