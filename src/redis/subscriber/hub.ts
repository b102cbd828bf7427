import type { ConnectionStrategy, SubscriberClient } from '../connection/strategy.js';
import { Opening } from '../../core/opening.js';
import { closeClient } from '../connection/client.js';

/** How a name is subscribed: SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE. */
export type SubscriptionKind = 'channel' | 'pattern' | 'sharded';
/** Called with the concrete channel and the raw payload of each message. */
export type ChannelListener = (channel: string, payload: Buffer) => void;

const commands = {
  channel: ['subscribe', 'unsubscribe'],
  pattern: ['psubscribe', 'punsubscribe'],
  sharded: ['ssubscribe', 'sunsubscribe'],
} as const;

/**
 * One Pub/Sub connection shared by every channel subscriber and the RPC inbox of a broker.
 * `subscribe()` resolves once Redis confirmed the subscription.
 */
export class PubSubHub {
  readonly #strategy: ConnectionStrategy;
  readonly #listeners: Record<SubscriptionKind, Map<string, Set<ChannelListener>>> = {
    channel: new Map(),
    pattern: new Map(),
    sharded: new Map(),
  };
  /** A name's listeners whose subscription was sent and is not confirmed yet, and its confirmation. */
  readonly #confirming = new WeakMap<Set<ChannelListener>, Promise<void>>();
  readonly #client = new Opening<SubscriberClient>();

  constructor(strategy: ConnectionStrategy) {
    this.#strategy = strategy;
  }

  /**
   * Subscribes `listener` and resolves once Redis confirmed the subscription (one that another
   * listener started is waited for); the returned function unsubscribes it.
   */
  async subscribe(kind: SubscriptionKind, name: string, listener: ChannelListener): Promise<() => Promise<void>> {
    const client = await this.#connection();
    const listeners = this.#listeners[kind];
    for (;;) {
      let set = listeners.get(name);
      if (!set) {
        set = new Set();
        listeners.set(name, set);
        const confirmed = client.call(commands[kind][0], name).then(() => undefined);
        this.#confirming.set(set, confirmed);
        try {
          await confirmed;
        } catch (error) {
          if (listeners.get(name) === set) listeners.delete(name);
          throw error;
        } finally {
          this.#confirming.delete(set);
        }
      } else {
        // Another listener's subscription on its way: confirmed (or failed) for this one too.
        await this.#confirming.get(set);
      }
      // Unsubscribed meanwhile (its last listener left): subscribe anew.
      if (listeners.get(name) !== set) continue;
      set.add(listener);
      return async () => {
        const current = listeners.get(name);
        if (!current?.delete(listener) || current.size > 0) return;
        listeners.delete(name);
        if (client.status === 'ready') await client.call(commands[kind][1], name);
      };
    }
  }

  async close(): Promise<void> {
    const pending = this.#client.forget();
    for (const map of Object.values(this.#listeners)) map.clear();
    const client = await pending?.catch(() => undefined);
    // Nothing is pending on a Pub/Sub connection; QUIT there leaves a 2 s timer that keeps the process alive.
    if (client) await closeClient(client, true);
  }

  #connection(): Promise<SubscriberClient> {
    return this.#client.get(() => this.#open());
  }

  async #open(): Promise<SubscriberClient> {
    const client = await this.#strategy.openSubscriber();
    const deliver = (kind: SubscriptionKind, key: Buffer, channel: Buffer, payload: Buffer): void => {
      const set = this.#listeners[kind].get(key.toString());
      if (!set) return;
      const name = channel.toString();
      for (const listener of set) listener(name, payload);
    };
    client.on('messageBuffer', (channel: Buffer, payload: Buffer) => deliver('channel', channel, channel, payload));
    client.on('pmessageBuffer', (pattern: Buffer, channel: Buffer, payload: Buffer) => deliver('pattern', pattern, channel, payload));
    client.on('smessageBuffer', (channel: Buffer, payload: Buffer) => deliver('sharded', channel, channel, payload));
    return client;
  }
}
