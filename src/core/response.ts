/** Headers and correlation id for a {@link Response}. */
export interface ResponseInit {
  readonly headers?: Record<string, string>;
  readonly correlationId?: string;
}

/**
 * A handler may return a `Response` to set headers or a correlation id on what it sends back
 * (to `reply_to` and to its publishers). Any other return value is the body.
 */
export class Response<Body = unknown> {
  readonly body: Body;
  readonly headers: Record<string, string>;
  readonly correlationId: string | undefined;

  constructor(body: Body, init: ResponseInit = {}) {
    this.body = body;
    this.headers = init.headers ?? {};
    this.correlationId = init.correlationId;
  }
}

/** A handler's return value as a Response. */
export function toResponse(result: unknown): Response {
  return result instanceof Response ? result : new Response(result);
}
