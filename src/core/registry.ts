import { isAckPolicy, type AckPolicy } from './ack.js';
import { OptionError, SetupError } from './errors.js';
import type { MiddlewareLike } from './middleware.js';

/** Options shared by brokers and routers. */
export interface RegistryOptions {
  /** Prepended to every channel, list and stream name registered here. */
  readonly prefix?: string;
  /** Middlewares for everything registered here, outermost first. */
  readonly middlewares?: readonly MiddlewareLike[];
  /** Default ack policy for stream group subscribers registered here. */
  readonly ackPolicy?: AckPolicy;
  /** `false` leaves everything registered here out of generated documentation (AsyncAPI). @defaultValue `true` */
  readonly includeInSchema?: boolean;
}

/** How a router is included: an extra prefix and middlewares. */
export interface IncludeOptions {
  readonly prefix?: string;
  readonly middlewares?: readonly MiddlewareLike[];
}

/** A registration as the broker finally sees it, with everything inherited from routers. */
export interface Resolved<T> {
  readonly item: T;
  readonly prefix: string;
  readonly middlewares: readonly MiddlewareLike[];
  readonly ackPolicy: AckPolicy | undefined;
  /** False when this registry or any that includes it says `includeInSchema: false`. */
  readonly includeInSchema: boolean;
}

/**
 * A registry of subscribers and publishers with a prefix, middlewares and an ack policy; brokers
 * and routers are registries, and include other registries (routers). Names resolve as
 * `include prefix + router prefix + name`; middlewares run outer-first (broker → include → router);
 * the innermost ack policy wins.
 */
export class Registry<Sub, Pub> {
  readonly prefix: string;
  readonly middlewares: readonly MiddlewareLike[];
  readonly ackPolicy: AckPolicy | undefined;
  readonly includeInSchema: boolean;
  readonly #subscribers: Sub[] = [];
  readonly #publishers: Pub[] = [];
  readonly #routers = new Map<Registry<Sub, Pub>, Required<IncludeOptions>>();

  constructor(options: RegistryOptions = {}) {
    if (options.prefix !== undefined && typeof options.prefix !== 'string') {
      throw new OptionError('prefix', options.prefix, 'a string');
    }
    if (options.ackPolicy !== undefined && !isAckPolicy(options.ackPolicy)) {
      throw new OptionError('ackPolicy', options.ackPolicy, 'one of ackFirst, ack, rejectOnError, nackOnError, manual');
    }
    if (options.includeInSchema !== undefined && typeof options.includeInSchema !== 'boolean') {
      throw new OptionError('includeInSchema', options.includeInSchema, 'true or false');
    }
    this.prefix = options.prefix ?? '';
    this.includeInSchema = options.includeInSchema ?? true;
    this.middlewares = checkMiddlewares(options.middlewares ?? []);
    this.ackPolicy = options.ackPolicy;
  }

  /** Includes a router: its subscribers and publishers become this registry's. Including twice is a no-op. */
  includeRouter(router: Registry<Sub, Pub>, options: IncludeOptions = {}): void {
    if (!(router instanceof Registry)) throw new SetupError('includeRouter() takes a router created with new RedisRouter().');
    if (router === this || router.#contains(this)) throw new SetupError('A router cannot include itself, directly or through another router.');
    if (this.#routers.has(router)) return;
    this.#routers.set(router, { prefix: options.prefix ?? '', middlewares: checkMiddlewares(options.middlewares ?? []) });
  }

  protected addSubscriber(subscriber: Sub): void {
    this.#subscribers.push(subscriber);
  }

  protected addPublisher(publisher: Pub): void {
    this.#publishers.push(publisher);
  }

  /** Every subscriber registered here or in included routers, resolved. */
  protected resolveSubscribers(): Array<Resolved<Sub>> {
    return this.#resolve((registry) => registry.#subscribers);
  }

  /** Every publisher registered here or in included routers, resolved. */
  protected resolvePublishers(): Array<Resolved<Pub>> {
    return this.#resolve((registry) => registry.#publishers);
  }

  #resolve<T>(pick: (registry: Registry<Sub, Pub>) => readonly T[]): Array<Resolved<T>> {
    const own = pick(this).map((item) => ({ item, prefix: this.prefix, middlewares: this.middlewares, ackPolicy: this.ackPolicy, includeInSchema: this.includeInSchema }));
    for (const [router, include] of this.#routers) {
      for (const child of router.#resolve(pick)) {
        own.push({
          item: child.item,
          prefix: this.prefix + include.prefix + child.prefix,
          middlewares: [...this.middlewares, ...include.middlewares, ...child.middlewares],
          ackPolicy: child.ackPolicy ?? this.ackPolicy,
          includeInSchema: this.includeInSchema && child.includeInSchema,
        });
      }
    }
    return own;
  }

  #contains(other: Registry<Sub, Pub>): boolean {
    for (const router of this.#routers.keys()) if (router === other || router.#contains(other)) return true;
    return false;
  }
}

function checkMiddlewares(value: unknown): readonly MiddlewareLike[] {
  if (!Array.isArray(value)) throw new OptionError('middlewares', value, 'an array of middlewares');
  const list: readonly unknown[] = value;
  list.forEach((m, i) => {
    if (typeof m !== 'function' && (typeof m !== 'object' || m === null)) {
      throw new OptionError(`middlewares[${i}]`, m, 'a middleware object or a factory function');
    }
  });
  return list as readonly MiddlewareLike[];
}
