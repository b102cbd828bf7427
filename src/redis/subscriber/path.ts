/**
 * Channel templates: `logs.{level}` subscribes to `logs.*` (PSUBSCRIBE) and captures
 * `{ level: 'info' }` from `logs.info`. A param matches one dot-separated segment.
 */
import { SetupError } from '../../core/errors.js';

/** A compiled channel template: what to subscribe to, and how to read params back. */
export interface ChannelTemplate {
  /** What is sent to (P)SUBSCRIBE. */
  readonly address: string;
  /** Path params of a delivered channel; `{}` when the channel does not fit the template. */
  readonly match: (channel: string) => Record<string, string>;
}

/** Only an identifier in braces is a param; other braces (hash tags such as `{user:42}`) are literal. */
const PARAM = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Compiles a channel template; throws a SetupError when a param name repeats. */
export function compileChannel(template: string): ChannelTemplate {
  const names: string[] = [];
  let regex = '';
  let last = 0;
  for (const found of template.matchAll(PARAM)) {
    const name = found[1] as string;
    if (names.includes(name)) throw new SetupError(`Channel "${template}" uses the path param {${name}} twice; give each param its own name.`);
    names.push(name);
    regex += literal(template.slice(last, found.index)) + `(?<${name}>[^.]+)`;
    last = found.index + found[0].length;
  }
  regex += literal(template.slice(last));
  const address = template.replace(PARAM, '*');
  if (names.length === 0) return { address, match: () => ({}) };
  const compiled = new RegExp(`^${regex}$`);
  return { address, match: (channel) => ({ ...compiled.exec(channel)?.groups }) };
}

function literal(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
}
