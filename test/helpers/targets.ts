/** Where the test topology started by `npm run redis:up` listens. */
export function redisTargets(): { single: { url: string; host: string; port: number }; cluster: { url: string; host: string; port: number } } {
  const single = process.env['REDSTREAM_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const cluster = process.env['REDSTREAM_CLUSTER_URL'] ?? 'redis://127.0.0.1:7000';
  const parse = (url: string) => {
    const parsed = new URL(url);
    return { url, host: parsed.hostname, port: Number(parsed.port || 6379) };
  };
  return { single: parse(single), cluster: parse(cluster) };
}
