import { ErrorCode, RedstreamError, SetupError } from '../core/errors.js';
import type { QueuedCommand } from './connection/strategy.js';

type Transform = (reply: unknown) => unknown;

/**
 * `broker.pipeline(async (pipe) => …)`: publishes made with `{ pipeline: pipe }` are queued and
 * sent in one round trip when the callback returns; nothing is sent if it throws.
 * Not atomic unless `{ atomic: true }` (MULTI/EXEC on one node).
 */
export class RedisPipeline {
  readonly #commands: QueuedCommand[] = [];
  readonly #transforms: Transform[] = [];
  #sealed = false;

  /** How many commands are queued. */
  get size(): number {
    return this.#commands.length;
  }

  /** @internal Queues one command; the producer calls this. */
  enqueue(command: QueuedCommand, transform: Transform): void {
    if (this.#sealed) {
      throw new SetupError('This pipeline was already sent; publish with `pipeline` only inside the broker.pipeline() callback.');
    }
    this.#commands.push(command);
    this.#transforms.push(transform);
  }

  /** @internal Seals the pipeline and hands its commands over. */
  seal(): { commands: readonly QueuedCommand[]; transforms: readonly Transform[] } {
    this.#sealed = true;
    return { commands: this.#commands, transforms: this.#transforms };
  }
}

/** Some commands of a pipeline failed; `results` has each command's result or Error, in call order. */
export class PipelineError extends RedstreamError {
  readonly results: readonly unknown[];

  constructor(results: readonly unknown[]) {
    const failed = results.filter((r): r is Error => r instanceof Error);
    super(ErrorCode.PUBLISH, `${failed.length} of ${results.length} pipelined commands failed; first: ${failed[0]?.message}`, { cause: failed[0] });
    this.results = results;
  }
}

/** Applies result transforms and raises a PipelineError if any command failed. */
export function finishPipeline(replies: readonly unknown[], transforms: readonly Transform[]): unknown[] {
  const results = replies.map((reply, i) => (reply instanceof Error ? reply : transforms[i]!(reply)));
  if (results.some((r) => r instanceof Error)) throw new PipelineError(results);
  return results;
}

/** Options of `broker.pipeline()`. */
export interface PipelineOptions {
  /** Wrap the commands in MULTI/EXEC (all keys must be on one node). @defaultValue `false` */
  readonly atomic?: boolean;
}
