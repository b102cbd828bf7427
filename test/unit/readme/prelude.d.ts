// What the README's snippets take as given: names a reader's own code would define.
declare const url: string;
declare const app: import('../../../src/index.js').App;
declare const tracerProvider: import('@opentelemetry/api').TracerProvider;
declare const meterProvider: import('@opentelemetry/api').MeterProvider;
declare const RedisBroker: typeof import('../../../src/index.js').RedisBroker;
declare const it: typeof import('vitest').it;
declare const expect: typeof import('vitest').expect;
