/** Where the test topology started by `npm run redis:up` listens. */
export function redisTargets(): { single: { url: string; host: string; port: number } } {
  const url = process.env['REDSTREAM_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const parsed = new URL(url);
  return { single: { url, host: parsed.hostname, port: Number(parsed.port || 6379) } };
}
