/**
 * Operating a test cluster the way an operator would: who owns a slot, CLUSTER FAILOVER,
 * SIGKILL and restart of a node, and moving a slot with SETSLOT / MIGRATE.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { slotOf } from '../../src/index.js';
import { eventually } from './wait.js';

const DIR = process.env['REDSTREAM_REDIS_DIR'] ?? '/tmp/redstream-redis';
const nodeScript = fileURLToPath(new URL('../../scripts/redis-node.sh', import.meta.url));

export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  readonly masterId: string | undefined;
  readonly slots: ReadonlyArray<readonly [number, number]>;
  readonly failed: boolean;
}

export class ClusterAdmin {
  readonly ports: readonly number[];

  constructor(ports: readonly number[]) {
    this.ports = ports;
  }

  /**
   * A short-lived connection to one node. A frozen node (SIGSTOP) accepts the connection but never
   * answers, so commands time out and such a node counts as down, like a dead one.
   */
  async on<T>(port: number, run: (node: Redis) => Promise<T>): Promise<T> {
    const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 });
    // A node that is down is an expected answer here; connect() reports it.
    node.on('error', () => undefined);
    try {
      await node.connect();
      return await run(node);
    } finally {
      node.disconnect();
    }
  }

  /** The cluster as a live node sees it. */
  async nodes(): Promise<ClusterNode[]> {
    for (const port of this.ports) {
      try {
        const text = await this.on(port, (node) => node.call('CLUSTER', 'NODES') as Promise<string>);
        return text.trim().split('\n').map(parseNode);
      } catch {
        // that node is down; ask the next one
      }
    }
    throw new Error('no cluster node answers');
  }

  async masterOf(key: string): Promise<ClusterNode> {
    const slot = slotOf(key);
    const master = (await this.nodes()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master;
  }

  async replicaOf(master: ClusterNode): Promise<ClusterNode> {
    const replica = (await this.nodes()).find((n) => n.masterId === master.id && !n.failed);
    if (!replica) throw new Error(`master ${master.port} has no replica`);
    return replica;
  }

  /** A key whose slot the master on `port` owns, for placing test data on a chosen node. */
  async keyOn(port: number, prefix: string): Promise<string> {
    const master = (await this.nodes()).find((n) => n.port === port)!;
    for (let i = 0; ; i += 1) {
      const key = `${prefix}:${i}`;
      const slot = slotOf(key);
      if (master.slots.some(([a, b]) => slot >= a && slot <= b)) return key;
    }
  }

  /** Waits until every live node reports cluster_state:ok and a full set of masters with replicas. */
  async healthy(timeout = 30_000): Promise<void> {
    await eventually(
      async () => {
        const nodes = await this.nodes();
        const states = await Promise.all(this.ports.map((port) => this.on(port, (n) => n.call('CLUSTER', 'INFO') as Promise<string>)));
        const masters = nodes.filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failed);
        return states.every((s) => s.includes('cluster_state:ok')) && masters.length === 3 && nodes.every((n) => !n.failed) && nodes.length === 6;
      },
      timeout,
      `the cluster on ${this.ports.join(',')} to become healthy`,
      100,
    );
  }

  /** CLUSTER FAILOVER on a replica, waiting until it serves as master. */
  async failover(replica: ClusterNode): Promise<void> {
    await this.on(replica.port, (node) => node.call('CLUSTER', 'FAILOVER'));
    await eventually(async () => (await this.nodes()).find((n) => n.id === replica.id)?.role === 'master', 15_000, 'the failover', 50);
  }

  /** Waits until the replica's copy of the data caught up with its master (so a kill loses no acknowledged write). */
  async replicated(master: ClusterNode): Promise<void> {
    await eventually(
      async () => {
        const info = await this.on(master.port, (n) => n.call('INFO', 'replication') as Promise<string>);
        const own = /master_repl_offset:(\d+)/.exec(info)?.[1];
        const replica = /slave0:.*offset=(\d+)/.exec(info)?.[1];
        return own !== undefined && own === replica;
      },
      10_000,
      'replication to catch up',
      50,
    );
  }

  /** Sends a signal to a node: SIGKILL as a crashed machine, SIGSTOP/SIGCONT as a frozen one. */
  signal(port: number, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): void {
    process.kill(Number(readFileSync(`${DIR}/redis-${port}.pid`, 'utf8').trim()), signal);
  }

  /** Starts a killed node again with its original settings; it rejoins as a replica. */
  restart(port: number): void {
    execFileSync('bash', [nodeScript, 'cluster', String(port)], { stdio: 'inherit' });
  }

  /** Moves `key`'s slot to the master on `toPort` with SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE. */
  async migrateSlot(key: string, toPort: number): Promise<void> {
    const slot = slotOf(key);
    const source = await this.masterOf(key);
    const target = (await this.nodes()).find((n) => n.port === toPort)!;
    await this.on(target.port, (n) => n.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', source.id));
    await this.on(source.port, (n) => n.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', target.id));
    await this.on(source.port, async (n) => {
      for (;;) {
        const keys = (await n.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await n.call('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...keys);
      }
    });
    for (const node of await this.nodes()) {
      if (node.role === 'master') await this.on(node.port, (n) => n.call('CLUSTER', 'SETSLOT', slot, 'NODE', target.id));
    }
  }
}

function parseNode(line: string): ClusterNode {
  const [id, address, flags, master, , , , , ...slots] = line.split(' ');
  const port = Number(address!.split('@')[0]!.split(':')[1]);
  const flagList = flags!.split(',');
  return {
    id: id!,
    port,
    role: flagList.includes('master') ? 'master' : 'replica',
    masterId: master === '-' ? undefined : master,
    failed: flagList.includes('fail') || flagList.includes('fail?') || flagList.includes('noaddr'),
    slots: slots.filter((s) => !s.startsWith('[')).map((s) => {
      const [a, b] = s.split('-').map(Number);
      return [a!, b ?? a!] as const;
    }),
  };
}
