/**
 * Leases: how the instances of one consumer group share the partitions of a partitioned stream,
 * with Redis as the coordinator. Every instance, every quarter of the lease time:
 *   1. registers itself as a live member (a sorted set scored by expiry) and reads the lease table
 *      (a hash: partition → "expiry|member"), both by Redis's clock, in one script;
 *   2. plans (plan() below, the same code for Redis and the in-memory test broker): its fair share
 *      of the partitions, sorted members taking turns for the remainder;
 *   3. writes the plan, each change applied only if that partition's lease is still as read (two
 *      instances racing for a free partition: one gets it).
 * A partition changes owner only once its lease is free: released by an owner that stopped reading
 * it, or expired.
 */
/** The strategy's command client, as far as leases use it (no import: the strategy names LeaseStore). */
interface Commands {
  send(command: string, key: string, args: ReadonlyArray<string | Buffer | number>): Promise<unknown>;
}

/** One partition's lease. */
export interface Lease {
  readonly member: string;
  /** When it ends, in ms of the coordinator's clock. */
  readonly expires: number;
  /** The stored value, compared when the lease is taken over. */
  readonly raw: string;
}

/** The lease table as one member read it. */
export interface LeaseState {
  /** The coordinator's clock, in ms. */
  readonly now: number;
  /** The live members (the reader among them). */
  readonly members: readonly string[];
  readonly leases: ReadonlyMap<number, Lease>;
}

/** One change to the lease table, applied only if still valid (see LeaseStore.write). */
export type LeaseChange =
  | { readonly op: 'take'; readonly partition: number; readonly expected: string }
  | { readonly op: 'renew'; readonly partition: number }
  | { readonly op: 'drop'; readonly partition: number };

/** Where a group's leases live: Redis (a script per step), or the in-memory test broker's store. */
export interface LeaseStore {
  /** Registers `member` as live for `leaseTime` ms and reads the table. */
  read(member: string, leaseTime: number): Promise<LeaseState>;
  /**
   * Applies the changes for `member`, a lease lasting `leaseTime` ms from now: `take` only if the
   * stored value is still `expected` ('' = none), `renew` and `drop` only if `member` holds it.
   * Whether each applied, in order.
   */
  write(member: string, leaseTime: number, changes: readonly LeaseChange[]): Promise<boolean[]>;
  /** Drops `member`'s leases on `partitions` and its membership. */
  leave(member: string, leaseTime: number, partitions: readonly number[]): Promise<void>;
}

/** The keys of one group's lease table; all share one hash tag, so one script can use both. */
export function leaseKeys(stream: string, group: string): { readonly leases: string; readonly members: string } {
  const tag = `{${stream}:${group}}`;
  return { leases: `redstream:leases:${tag}`, members: `redstream:members:${tag}` };
}

/** What one member does after reading the table. */
export interface LeasePlan {
  /** How many partitions are this member's fair share. */
  readonly share: number;
  /** Leases to write: renewals of its own, takeovers of free ones. */
  readonly changes: readonly LeaseChange[];
  /** Partitions it holds beyond its share: stop reading them, then drop them. */
  readonly surplus: readonly number[];
}

/**
 * Plans one member's round. Its share is `partitions / members`, the first members (sorted by
 * name) taking one more each for the remainder. It renews what it holds, marks what it holds past
 * its share as surplus (those it is not reading first), and takes free or expired leases up to
 * its share, starting from its own offset so that members joining together ask for different ones.
 */
export function plan(state: LeaseState, member: string, partitions: number, reading: ReadonlySet<number>): LeasePlan {
  const members = [...new Set([...state.members, member])].sort();
  const index = members.indexOf(member);
  const share = Math.floor(partitions / members.length) + (index < partitions % members.length ? 1 : 0);
  const held: number[] = [];
  const free: number[] = [];
  const offset = Math.floor((index * partitions) / members.length);
  for (let step = 0; step < partitions; step += 1) {
    const partition = (offset + step) % partitions;
    const lease = state.leases.get(partition);
    if (lease?.member === member) held.push(partition);
    else if (!lease || lease.expires <= state.now) free.push(partition);
  }
  // Keep what is being read; give up what is not read yet first.
  held.sort((a, b) => Number(reading.has(b)) - Number(reading.has(a)) || a - b);
  const changes: LeaseChange[] = held.map((partition) => ({ op: 'renew', partition }));
  const surplus = held.slice(share);
  for (const partition of free.slice(0, Math.max(0, share - held.length))) {
    changes.push({ op: 'take', partition, expected: state.leases.get(partition)?.raw ?? '' });
  }
  return { share, changes, surplus };
}

/** Parses a stored lease value, `expiry|member`. */
export function parseLease(raw: string): Lease {
  const bar = raw.indexOf('|');
  return { member: raw.slice(bar + 1), expires: Number(raw.slice(0, bar)), raw };
}

/**
 * Lua's view of the clock: Redis's TIME in ms (scripts replicate their effects, so TIME is
 * allowed); and `keep`, which lets a key live at least `ms` more, never shortening what another
 * member with a longer lease time set.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function keep(key, ms)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and ttl < ms) then redis.call('PEXPIRE', key, ms) end
end`;

/**
 * KEYS: leases, members. ARGV: member, leaseTime. Prunes expired members, registers this one,
 * keeps both keys for a few lease times after the last member left, returns now, members, leases.
 */
const READ = `${NOW}
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], string.format('%.0f', now + lease), ARGV[1])
keep(KEYS[2], lease * 4)
keep(KEYS[1], lease * 4)
return { string.format('%.0f', now), redis.call('ZRANGE', KEYS[2], 0, -1), redis.call('HGETALL', KEYS[1]) }`;

/**
 * KEYS: leases, members. ARGV: member, leaseTime, then (op, partition, expected) per change, where
 * op is take, renew, drop or leave (leave: drop the membership). Returns 1 or 0 per change.
 */
const WRITE = `${NOW}
local member, lease = ARGV[1], tonumber(ARGV[2])
local value = string.format('%.0f', now + lease) .. '|' .. member
local applied = {}
for i = 3, #ARGV, 3 do
  local op, partition, expected = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('HGET', KEYS[1], partition) or ''
  local bar = string.find(current, '|', 1, true)
  local mine = bar ~= nil and string.sub(current, bar + 1) == member
  local ok = 0
  if op == 'take' and current == expected then ok = 1 end
  if op == 'renew' and mine then ok = 1 end
  if ok == 1 then redis.call('HSET', KEYS[1], partition, value) end
  if op == 'drop' and mine then
    redis.call('HDEL', KEYS[1], partition)
    ok = 1
  end
  if op == 'leave' then ok = redis.call('ZREM', KEYS[2], member) end
  applied[#applied + 1] = ok
end
keep(KEYS[1], lease * 4)
return applied`;

/** The lease table of one group in Redis (in the group's own hash slot on a cluster). */
export class RedisLeaseStore implements LeaseStore {
  readonly #commands: Commands;
  readonly #keys: { readonly leases: string; readonly members: string };

  constructor(commands: Commands, stream: string, group: string) {
    this.#commands = commands;
    this.#keys = leaseKeys(stream, group);
  }

  async read(member: string, leaseTime: number): Promise<LeaseState> {
    const { leases, members } = this.#keys;
    const [now, live, flat] = (await this.#commands.send('EVAL', leases, [READ, 2, leases, members, member, leaseTime])) as [string, string[], string[]];
    const table = new Map<number, Lease>();
    for (let i = 0; i + 1 < flat.length; i += 2) table.set(Number(flat[i]), parseLease(String(flat[i + 1])));
    return { now: Number(now), members: live.map(String), leases: table };
  }

  async write(member: string, leaseTime: number, changes: readonly LeaseChange[]): Promise<boolean[]> {
    if (changes.length === 0) return [];
    const args = changes.flatMap((change) => [change.op, change.partition, change.op === 'take' ? change.expected : '']);
    return this.#send(member, leaseTime, args);
  }

  async leave(member: string, leaseTime: number, partitions: readonly number[]): Promise<void> {
    await this.#send(member, leaseTime, [...partitions.flatMap((partition) => ['drop', partition, '']), 'leave', 0, '']);
  }

  async #send(member: string, leaseTime: number, args: ReadonlyArray<string | number>): Promise<boolean[]> {
    const { leases, members } = this.#keys;
    const applied = (await this.#commands.send('EVAL', leases, [WRITE, 2, leases, members, member, leaseTime, ...args])) as number[];
    return applied.map((one) => Number(one) === 1);
  }
}
