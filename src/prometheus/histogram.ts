/** The histograms of `redstream/prometheus`: prom-client's exposition, a cheaper observe. */
import type { Metric, Registry } from 'prom-client';

/** Takes one observation. */
export interface Observer {
  observe(value: number): void;
}

/** The counts of one label set. */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  /** Dropped by a reset: its observers move to a new series. */
  dropped: boolean;
}

/** One line of a scraped histogram. */
interface HistogramValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A histogram scraped exactly as prom-client's own (`_bucket` with `le` first, `+Inf`, `_sum`,
 * `_count`), counted in plain arrays per label set. prom-client's Histogram checks and hashes
 * the labels on every observe, even through a child from `labels()`; this one does that once,
 * when the child is made, and an observe is a bucket search and three additions.
 */
export class LeanHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[], bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
    this.#bounds = [...bounds].sort((a, b) => a - b);
    // A metric object of its own: the registry asks it for its values when scraped.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The observer of one label set (every label name given). */
  labels(labels: Readonly<Record<string, string>>): Observer {
    const key = this.#labelNames.map((name) => labels[name] ?? '').join('\u0000');
    const bounds = this.#bounds;
    // Made by the first observe, as prom-client's are (a label set never observed is not scraped).
    let series: Series | undefined;
    return {
      observe: (value: number): void => {
        // What prom-client would refuse with a throw: never a NaN sum for good.
        if (!Number.isFinite(value)) return;
        // Reset (registry.resetMetrics) drops every series, as prom-client does; the next observe starts a new one.
        if (series === undefined || series.dropped) series = this.#seriesOf(key, labels);
        let index = 0;
        while (index < bounds.length && value > bounds[index]!) index += 1;
        if (index < bounds.length) series.buckets[index]! += 1;
        series.sum += value;
        series.count += 1;
      },
    };
  }

  #seriesOf(key: string, labels: Readonly<Record<string, string>>): Series {
    let series = this.#series.get(key);
    if (!series) {
      const own = Object.fromEntries(this.#labelNames.map((name) => [name, labels[name] ?? '']));
      series = { labels: own, buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0, dropped: false };
      this.#series.set(key, series);
    }
    return series;
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: HistogramValue[] }> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, buckets, sum, count } of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, index) => {
        cumulative += buckets[index]!;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: bucket });
      values.push({ labels: { ...labels }, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** registry.resetMetrics(): no series left until the next observe, as with prom-client's own. */
  reset(): void {
    for (const series of this.#series.values()) series.dropped = true;
    this.#series.clear();
  }
}

